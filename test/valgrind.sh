# test/valgrind.sh: the server under valgrind (issue 20), sourced by
# test/run.sh: `make valgrind` (every pgTAP file with CRM_LONG=1) and the
# short form in `make test`.
#
# A throwaway cluster of its own whose postgres runs under memcheck
# (installed from Debian when missing), the pg_regress scripts and some
# pgTAP files run against it, and the errors valgrind reports counted:
# those with a frame in crm.so must be 0.  Debian's server is not built
# with USE_VALGRIND, so memcheck does not know PostgreSQL's own allocator
# (a palloc'd chunk reused from a free list looks defined) and reports
# things the server does on purpose; test/valgrind/postgres.supp hides
# those, each suppression saying which server behaviour it is.  Errors
# without a crm.so frame are printed as a count only (they are the
# server's).
#
#   CRM_LONG=1           every pgTAP file (short: VALGRIND_TAP below)
#   CRM_VALGRIND_TAP     the pgTAP files to run (names in test/pgtap/)
#   CRM_VALGRIND_KEEP=1  keep the logs (build/valgrind/)

# the short form's pgTAP files: the ones that reach the C code most (the
# types' input and output, the aggregates' states, the fits, the order
# triggers and the refresh)
VALGRIND_TAP="summary_errors agg_state hostile_input btyd_cdnow tracking stage_lifecycle any_client"

# valgrind installed from Debian when missing and we are root; 77 (skip)
# with SKIP_REASON when not
ensure_valgrind() {
	command -v valgrind >/dev/null 2>&1 && return 0
	if [ "$(id -u)" = 0 ]; then
		say "crm: installing valgrind"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind >/dev/null 2>&1 ||
			{ apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind >/dev/null 2>&1; }
	fi
	command -v valgrind >/dev/null 2>&1 ||
		{ SKIP_REASON="valgrind is not installed, and could not be installed from Debian"; return 77; }
}

VG_DIR=
# vg_start: a cluster in $VG_DIR whose postmaster (and so every backend it
# forks) runs under memcheck, one XML log per process in $VG_DIR/logs
vg_start() {
	local i
	VG_DIR=$(mktemp -d /tmp/crm-valgrind.XXXXXX)
	chmod 755 "$VG_DIR"
	mkdir -p "$VG_DIR/logs"
	[ "$(id -u)" = 0 ] && chown -R postgres: "$VG_DIR"
	export PGHOST="$VG_DIR" PGPORT=$((40000 + $$ % 10000)) PGUSER=postgres PGDATABASE=postgres
	as_pg initdb -D "$VG_DIR/data" -U postgres --auth=trust --no-sync -E UTF8 --locale=C >"$VG_DIR/initdb.log" 2>&1 ||
		{ cat "$VG_DIR/initdb.log" >&2; return 1; }
	# jit off: LLVM's generated code under valgrind is slow and not ours;
	# no autovacuum, fewer background processes: less to run under memcheck
	for kv in "listen_addresses=''" "unix_socket_directories='$VG_DIR'" "port=$PGPORT" \
		"fsync=off" "synchronous_commit=off" "full_page_writes=off" "jit=off" "autovacuum=off" \
		"max_connections=20" "shared_buffers=32MB" \
		"max_wal_senders=0"; do
		printf '%s\n' "$kv" >>"$VG_DIR/data/postgresql.conf"
	done
	cp test/valgrind/postgres.supp "$VG_DIR/postgres.supp"
	chmod 644 "$VG_DIR/postgres.supp"
	as_pg sh -c 'exec valgrind --tool=memcheck --trace-children=yes --track-origins=no \
		--suppressions="$1/postgres.supp" --num-callers=40 --error-limit=no \
		--leak-check=full --show-leak-kinds=definite --errors-for-leak-kinds=definite \
		--gen-suppressions=all --xml=yes --xml-file="$1/logs/%p.xml" \
		"$2/postgres" -D "$1/data" >"$1/server.log" 2>&1' sh "$VG_DIR" "$PG_BINDIR" &
	# the server takes a while to start under valgrind
	for i in $(seq 1 240); do
		pg_isready -q -h "$VG_DIR" -p "$PGPORT" && return 0
		sleep 0.5
	done
	cat "$VG_DIR/server.log" >&2
	return 1
}

vg_stop() {
	[ -n "$VG_DIR" ] || return 0
	# a fast shutdown: every backend exits, so memcheck writes its leak
	# report and closes its log
	as_pg pg_ctl -D "$VG_DIR/data" -m fast -w -t 300 stop >/dev/null 2>&1 ||
		as_pg pg_ctl -D "$VG_DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
}

# vg_count: the errors memcheck reported, as "ALL OURS": every <error> of
# every process's log, and those with a frame in crm.so; each is printed
# (its kind, its first frames) on stderr, the server's own marked so
vg_count() {
	cat "$VG_DIR"/logs/*.xml 2>/dev/null | awk '
		/<error>/ { inerr = 1; ours = 0; what = ""; frames = ""; nf = 0 }
		inerr && /<kind>/ { k = $0; gsub(/.*<kind>|<\/kind>.*/, "", k); what = k }
		inerr && /<fn>/ { f = $0; gsub(/.*<fn>|<\/fn>.*/, "", f); if (nf < 8) frames = frames " < " f; nf++ }
		inerr && /<obj>.*\/crm\.so<\/obj>/ { ours = 1 }
		/<\/error>/ { inerr = 0; all++; if (ours) { n++; print "#   " what ":" frames > "/dev/stderr" } else print "#   (server) " what ":" frames > "/dev/stderr" }
		END { printf "%d %d\n", all, n }'
}

# valgrind_run: the whole run, in a subshell (its own cluster, its own
# PGHOST); what each part gave goes into $VG_RESULTS (regress, tap and
# errors: ok, failed or skipped) for the checks below
VG_RESULTS=
valgrind_run() {
	VG_RESULTS=$(mktemp)
	(
		local tap files t out all ours started rc
		ensure_valgrind
		rc=$?
		if [ $rc != 0 ]; then
			printf 'skipped %s\n' "$SKIP_REASON" >"$VG_RESULTS"
			exit 0
		fi
		trap 'vg_stop; [ "${CRM_VALGRIND_KEEP:-0}" = 1 ] || rm -rf "$VG_DIR"' EXIT
		started=$(date +%s)
		vg_start || { say "# the server did not start under valgrind"; echo "regress failed" >"$VG_RESULTS"; exit 0; }
		tap=${CRM_VALGRIND_TAP:-$([ "${CRM_LONG:-0}" = 1 ] && (cd test/pgtap && ls *.sql | sed 's/\.sql$//') || echo "$VALGRIND_TAP")}
		files=$(for t in $tap; do printf 'test/pgtap/%s.sql ' "$t"; done)

		# the scripts write their binary COPY files there
		mkdir -p test/results
		out=$(make -s installcheck ISOLATION= PG_CONFIG="$PG_BINDIR/pg_config" \
			REGRESS_OPTS="--inputdir=. --outputdir=$VG_DIR/regress" 2>&1)
		ok=$(printf '%s\n' "$out" | grep -cE '\.\.\. ok' || true)
		failed=$(printf '%s\n' "$out" | grep -cE '\.\.\. (FAILED|failed)' || true)
		say "# pg_regress under valgrind: $ok scripts passed, $failed failed ($(( $(date +%s) - started )) s)"
		if [ "$ok" = 0 ] || [ "$failed" != 0 ]; then
			printf '%s\n' "$out" | tail -n 20 | sed 's/^/#   /'
			head -n 60 "$VG_DIR/regress/regression.diffs" 2>/dev/null | sed 's/^/#   /'
			echo "regress failed" >>"$VG_RESULTS"
		else
			echo "regress ok" >>"$VG_RESULTS"
		fi

		# crm made once in the database (each file's CREATE EXTENSION IF
		# NOT EXISTS then finds it: it costs a minute under valgrind), and
		# tracking.sql's random statements 300 instead of 10,000
		psql_q -c 'CREATE DATABASE crm_valgrind' && psql_q -d crm_valgrind -c 'CREATE EXTENSION pgtap' -c 'CREATE EXTENSION crm' ||
			{ echo "tap failed" >>"$VG_RESULTS"; exit 0; }
		# shellcheck disable=SC2086
		out=$(PGOPTIONS="-c crm_test.tracking_ops=${CRM_VALGRIND_TRACKING_OPS:-300}" pg_prove --timer -d crm_valgrind $files 2>&1)
		say "# pgTAP under valgrind: $(printf '%s\n' "$out" | grep -E '^Files=' | cut -d, -f1-2) ($(printf '%s' "$tap" | xargs | sed 's/ /, /g')), $(( $(date +%s) - started )) s"
		if printf '%s\n' "$out" | grep -q '^Result: PASS'; then
			echo "tap ok" >>"$VG_RESULTS"
		else
			printf '%s\n' "$out" | grep -vE '^ok|^\S+\.sql \.\. ok' | tail -n 30 | sed 's/^/#   /'
			echo "tap failed" >>"$VG_RESULTS"
		fi

		vg_stop
		read -r all ours < <(vg_count)
		say "# valgrind (memcheck): $(ls "$VG_DIR"/logs | wc -l) server processes, ${ours:-?} errors with a frame in crm.so, $((${all:-0} - ${ours:-0})) without (the server's own, not suppressed), $(( $(date +%s) - started )) s in all"
		if [ "${ours:-1}" = 0 ]; then echo "errors ok" >>"$VG_RESULTS"; else echo "errors failed" >>"$VG_RESULTS"; fi
	)
}

# vg_result PART: the check's return for what valgrind_run wrote of PART
vg_result() {
	local r
	r=$(sed -n 's/^skipped //p' "$VG_RESULTS")
	[ -z "$r" ] || { SKIP_REASON=$r; return 77; }
	grep -qx "$1 ok" "$VG_RESULTS"
}
valgrind_regress_check() { valgrind_run; vg_result regress; }
valgrind_tap_check() { vg_result tap; }
valgrind_errors_check() { vg_result errors; local rc=$?; rm -f "$VG_RESULTS"; return $rc; }
