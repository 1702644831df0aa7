#!/usr/bin/env bash
# test/packaging.sh: crm installed and run the way DBAs run extensions: the
# Debian package, the PGXN metadata and the nightly refresh on pg_cron.
#
#   test/packaging.sh deb   build the Debian package into build/deb/ and
#                           run lintian on it (`make deb`); installs
#                           debhelper, postgresql-server-dev-all, lintian
#                           and the other build dependencies when missing
#
# Sourced by test/run.sh, which calls deb_checks (before the source build
# is installed) and operations_checks (after the main cluster is stopped);
# each runs its tests through run.sh's check().  A check function returns
# 0 (passed), 1 (failed) or 77 (skipped, with SKIP_REASON set).

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	set -u
	cd "$(dirname "$0")/.."
	. test/lib.sh
fi

SYS_BINDIR=/usr/lib/postgresql/$PG_MAJOR/bin
DEB_DIR=build/deb
DEB_PACKAGE=postgresql-$PG_MAJOR-crm

# apt_get ARGS...: apt-get, quiet and without questions; its messages
# are shown when it fails
apt_get() {
	local log rc
	log=$(mktemp)
	DEBIAN_FRONTEND=noninteractive apt-get -y -qq "$@" >"$log" 2>&1
	rc=$?
	[ $rc = 0 ] || sed 's/^/# apt-get: /' "$log" >&2
	rm -f "$log"
	return $rc
}

# install_debs PACKAGE...: install those of the Debian packages that are
# not installed yet (as root, apt-get update first)
install_debs() {
	local p need=()
	for p; do
		[ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null)" = installed ] || need+=("$p")
	done
	[ ${#need[@]} = 0 ] && return 0
	if [ "$(id -u)" != 0 ]; then
		say "crm: missing Debian packages; as root: apt-get install ${need[*]}" >&2
		return 1
	fi
	say "crm: installing ${need[*]}"
	apt_get update && apt_get install "${need[@]}"
}

# ---------------------------------------------------------------------
# The Debian package
# ---------------------------------------------------------------------

# deb_build: copy the tree (what git tracks, and new files it does not
# ignore) to build/deb/src and build the binary packages there with
# dpkg-buildpackage (debian/rules: dh with pg_buildext, which also runs the
# pg_regress tests against the installed files); then lintian over them.
# Sets DEB_FILE and LINTIAN_ERRORS, LINTIAN_WARNINGS.
DEB_FILE=
LINTIAN_ERRORS=
LINTIAN_WARNINGS=
deb_build() {
	local src=$DEB_DIR/src log=$DEB_DIR/build.log lint=$DEB_DIR/lintian.txt
	install_debs dpkg-dev lintian || return 1
	rm -rf "$DEB_DIR" && mkdir -p "$src" || return 1
	if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
		git ls-files -co --exclude-standard | tar --ignore-failed-read -cf - -T - 2>/dev/null | tar -C "$src" -xf - || return 1
	else
		tar --exclude=./build --exclude=./.git -cf - . | tar -C "$src" -xf - || return 1
	fi
	# the build dependencies, as debian/control lists them
	if ! (cd "$src" && dpkg-checkbuilddeps >/dev/null 2>&1); then
		[ "$(id -u)" = 0 ] || { (cd "$src" && dpkg-checkbuilddeps); return 1; }
		say "crm: installing the build dependencies of debian/control"
		apt_get update && apt_get build-dep "./$src" || return 1
	fi
	if ! (cd "$src" && dpkg-buildpackage -b -us -uc) >"$log" 2>&1; then
		tail -n 40 "$log" | sed 's/^/# /'
		say "# dpkg-buildpackage failed: the whole log is in $log"
		return 1
	fi
	DEB_FILE=$(ls "$DEB_DIR/${DEB_PACKAGE}_"*.deb 2>/dev/null)
	[ -f "$DEB_FILE" ] || { say "# no $DEB_PACKAGE package in $DEB_DIR"; return 1; }
	# lintian prints one "E: ", "W: " or "I: " line per finding
	# (in a temporary directory of its own: lintian leaves cache files in $TMPDIR)
	local lint_tmp
	lint_tmp=$(mktemp -d)
	TMPDIR=$lint_tmp lintian --info "$DEB_DIR"/*.changes >"$lint" 2>/dev/null
	rm -rf "$lint_tmp"
	grep -E '^[EWI]: ' "$lint" | sed 's/^/# /'
	LINTIAN_ERRORS=$(grep -c '^E: ' "$lint")
	LINTIAN_WARNINGS=$(grep -c '^W: ' "$lint")
	say "# $DEB_FILE built; lintian: $LINTIAN_ERRORS errors, $LINTIAN_WARNINGS warnings"
}

deb_build_check() {
	[ "$(id -u)" = 0 ] || { SKIP_REASON="installing build dependencies and the package needs root"; return 77; }
	deb_build && [ "$LINTIAN_ERRORS" = 0 ]
}

# The files of a source build (make install) in the system's PostgreSQL:
# the package must be tested where they are absent.
system_crm_files() {
	local lib share
	lib=$("$SYS_BINDIR/pg_config" --pkglibdir) share=$("$SYS_BINDIR/pg_config" --sharedir)
	find "$lib" "$lib/bitcode" "$share/extension" -maxdepth 1 \
		\( -name crm.so -o -name crm -o -name crm.index.bc -o -name crm.control -o -name 'crm--*.sql' \) 2>/dev/null
}

# What of crm is left in the system paths (nothing, once the package is gone
# and the source build put aside).
crm_leftovers() {
	find /usr/lib/postgresql /usr/share/postgresql "/usr/share/doc/$DEB_PACKAGE" -name '*crm*' 2>/dev/null
}

# The package's smoke test, in a throwaway cluster of the system's
# PostgreSQL: CREATE EXTENSION, one summary, and ALTER EXTENSION UPDATE
# from 0.3.0 through the packaged upgrade script.  The package ships the
# upgrade scripts, not old install scripts: the 0.1.0 one (test/upgrade/)
# is put beside the package's files for the length of the test, and
# CREATE EXTENSION crm VERSION '0.3.0' goes from it through the packaged
# 0.1.0--0.2.0 and 0.2.0--0.3.0 scripts.
deb_smoke() {
	local version=$1 share members
	share=$("$SYS_BINDIR/pg_config" --sharedir)/extension
	PATH="$SYS_BINDIR:$PATH"
	cluster_start
	# the members of the extension, one per line: fresh and upgraded alike
	members="SELECT count(*) || ' ' || md5(string_agg(pg_describe_object(classid, objid, objsubid), E'\n'
	                 ORDER BY pg_describe_object(classid, objid, objsubid)))
	         FROM pg_depend WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e'
	           AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'crm')"
	psql_q -c "CREATE DATABASE crm_pkg" -c "CREATE DATABASE crm_pkg_up" &&
		[ "$(psql -X -At -q -d crm_pkg -c "CREATE EXTENSION crm" -c "SELECT extversion FROM pg_extension WHERE extname = 'crm'")" = "$version" ] &&
		say "# CREATE EXTENSION crm: $version" &&
		# the README's first example: same-day purchases make one purchase day
		[ "$(psql -X -At -d crm_pkg -c "SELECT crm.summarize(d, a) FROM (VALUES (date '2024-01-10', 20.00),
			('2024-01-10', 5.00), ('2024-02-01', 30.00), ('2024-03-15', 10.00)) v(d, a)")" = "{2024-01-10:25x2,2024-02-01:30,2024-03-15:10}" ] &&
		say "# a summary: {2024-01-10:25x2,2024-02-01:30,2024-03-15:10}" &&
		install -m 644 test/upgrade/crm--0.1.0.sql "$share/" &&
		# every step a packaged script
		[ "$(psql -X -At -d crm_pkg_up -c "SELECT path FROM pg_extension_update_paths('crm')
			WHERE source = '0.1.0' AND target = '$version'")" = "0.1.0--0.2.0--0.3.0--$version" ] &&
		dpkg -S "$share/crm--0.1.0--0.2.0.sql" "$share/crm--0.2.0--0.3.0.sql" "$share/crm--0.3.0--$version.sql" >/dev/null &&
		psql_q -d crm_pkg_up -c "CREATE EXTENSION crm VERSION '0.3.0'" \
			-c "INSERT INTO crm.customers (customer_id, stage) VALUES (1, 'exploration')" \
			-c "ALTER EXTENSION crm UPDATE" &&
		[ "$(psql -X -At -q -d crm_pkg_up -c "SELECT extversion FROM pg_extension WHERE extname = 'crm'" \
			-c "SELECT stage FROM crm.customers WHERE customer_id = 1")" = "$version
exploration" ] &&
		[ "$(psql -X -At -d crm_pkg -c "$members")" = "$(psql -X -At -d crm_pkg_up -c "$members")" ] &&
		say "# CREATE EXTENSION crm VERSION '0.3.0' from 0.1.0 and ALTER EXTENSION crm UPDATE, through the packaged scripts: the members of a fresh install ($(psql -X -At -d crm_pkg -c "$members" | cut -d' ' -f1)), data kept"
	local rc=$?
	rm -f "$share/crm--0.1.0.sql"
	return $rc
}

# Install the built package where the source build is absent (its files,
# if any, are put aside and restored afterwards, also on failure), smoke
# test it, remove it and check that nothing of crm is left.
deb_install_check() {
	[ "$(id -u)" = 0 ] || { SKIP_REASON="apt-get install needs root"; return 77; }
	# the package installs into the system's PostgreSQL: a run against
	# another (PG_BINDIR) would test nothing of it and disturb the system's
	[ "$PG_BINDIR" -ef "/usr/lib/postgresql/$PG_MAJOR/bin" ] ||
		{ SKIP_REASON="PG_BINDIR names another PostgreSQL than the system's, where the package installs"; return 77; }
	[ -f "$DEB_FILE" ] || { say "# no package built"; return 1; }
	(
		local saved version files
		saved=$(mktemp /tmp/crm-source-build.XXXXXX.tar)
		version=$(extension_version)
		restore() {
			apt_get purge "$DEB_PACKAGE" 2>/dev/null
			[ -s "$saved" ] && tar -C / -xf "$saved"
			rm -f "$saved"
		}
		trap restore EXIT
		trap 'exit 130' INT TERM
		# a package left installed by an interrupted run first
		apt_get purge "$DEB_PACKAGE" 2>/dev/null
		files=$(system_crm_files)
		if [ -n "$files" ]; then
			say "# a source build is installed in the system's PostgreSQL: put aside for this test"
			printf '%s\n' "$files" | sed 's|^/||' | tar -C / -cf "$saved" -T - && printf '%s\n' "$files" | xargs rm -rf || exit 1
		fi
		[ -z "$(crm_leftovers)" ] || { crm_leftovers | sed 's/^/# not from the package: /'; exit 1; }
		apt_get install "./$DEB_FILE" || exit 1
		say "# apt-get install ./$DEB_FILE: $(dpkg-query -W -f='${Package} ${Version}' "$DEB_PACKAGE"), $(dpkg -L "$DEB_PACKAGE" | grep -c 'crm.*\.sql$') SQL scripts"
		( deb_smoke "$version" ) || exit 1
		apt_get purge "$DEB_PACKAGE" || exit 1
		if [ -n "$(crm_leftovers)" ]; then
			crm_leftovers | sed 's/^/# left after removal: /'
			exit 1
		fi
		say "# apt-get purge $DEB_PACKAGE: nothing of crm left in /usr/lib/postgresql, /usr/share/postgresql"
	)
}

# Run from run.sh before the source build is installed: with the default
# PG_BINDIR that is the system's PostgreSQL, the package's place too.
deb_checks() {
	check "Debian package: make deb, lintian" deb_build_check \
		"make deb builds $DEB_PACKAGE with pg_buildext (its pg_regress run included) and lintian shows no error"
	check "Debian package: install, use, upgrade, remove" deb_install_check \
		"apt-get install of the .deb where the source build is absent: CREATE EXTENSION crm, a summary, ALTER EXTENSION crm UPDATE from 0.3.0, every step a packaged upgrade script; apt-get purge leaves nothing of crm"
}

# ---------------------------------------------------------------------
# PGXN metadata
# ---------------------------------------------------------------------

# META.json parses, holds what PGXN requires, and agrees with crm.control
# (version, abstract), with debian/changelog (upstream version) and with
# CHANGELOG.md (an unreleased version is not "stable").
meta_check() {
	local comment unreleased=false
	comment=$(sed -n "s/^comment = '\(.*\)'/\1/p" crm.control)
	grep -q "^## $(extension_version) (unreleased)" CHANGELOG.md && unreleased=true
	perl -MJSON::PP -e '
		my ($version, $comment, $unreleased, $debversion) = @ARGV;
		local $/; open my $f, "<", "META.json" or die "META.json: $!\n";
		my $m = JSON::PP->new->decode(<$f>);
		my @bad;
		for my $k (qw(name abstract version maintainer license provides meta-spec prereqs resources)) {
			push @bad, "no $k" unless exists $m->{$k};
		}
		my $p = $m->{provides}{crm} // {};
		push @bad, "name $m->{name} is not crm" unless ($m->{name} // "") eq "crm";
		push @bad, "version $m->{version}, crm.control $version" unless ($m->{version} // "") eq $version;
		push @bad, "provides.crm.version $p->{version}, crm.control $version" unless ($p->{version} // "") eq $version;
		push @bad, "provides.crm.abstract is not the comment of crm.control" unless ($p->{abstract} // "") eq $comment;
		for my $k (qw(file docfile)) { push @bad, "provides.crm.$k $p->{$k} is missing" unless -f ($p->{$k} // "") }
		push @bad, "prereqs: PostgreSQL is not 15"
			unless ($m->{prereqs}{runtime}{requires}{PostgreSQL} // "") =~ /^>= 15\.0\.0, < 16\.0\.0$/;
		my %licenses = map { $_ => 1 } qw(agpl_3 apache_1_1 apache_2_0 artistic_1 artistic_2 bsd freebsd gfdl_1_2
			gfdl_1_3 gpl_1 gpl_2 gpl_3 lgpl_2_1 lgpl_3_0 mit mozilla_1_0 mozilla_1_1 openssl perl_5 postgresql
			qpl_1_0 ssleay sun zlib open_source restricted unrestricted unknown);
		my $l = $m->{license} // "";
		push @bad, "license: not a PGXN license name, list of them, or names with links"
			unless ref $l eq "HASH" ? %$l && !grep { !/^https?:/ } values %$l
			     : ref $l eq "ARRAY" ? @$l && !grep { !$licenses{$_} } @$l : $licenses{$l};
		push @bad, "release_status stable for an unreleased version"
			if $unreleased eq "true" && ($m->{release_status} // "stable") eq "stable";
		push @bad, "debian/changelog has $debversion" unless $debversion =~ /^\Q$version\E-/;
		print "# META.json: $_\n" for @bad;
		print "# META.json: crm $m->{version}, PostgreSQL $m->{prereqs}{runtime}{requires}{PostgreSQL}, license " . JSON::PP->new->canonical->allow_nonref->encode($l) . "\n" unless @bad;
		exit(@bad ? 1 : 0);
	' "$(extension_version)" "$comment" "$unreleased" "$(sed -n '1s/^[^ ]* (\([^)]*\)).*/\1/p' debian/changelog)"
}

# ---------------------------------------------------------------------
# The nightly refresh on pg_cron
# ---------------------------------------------------------------------

# readme_block NAME: the fenced block after the line "<!-- recipe: NAME
# ... -->" in README.md, without its fences
readme_block() {
	awk -v m="<!-- recipe: $1 " '
		index($0, m) == 1 { found = 1; next }
		found && /^```/ { if (inside) exit; inside = 1; next }
		inside { print }' README.md
}

# pg_cron in the PostgreSQL under test: Debian's package where that is the
# system's; a relocated PG_BINDIR must have it copied in.
cron_available() {
	[ -f "$(pg_config --sharedir)/extension/pg_cron.control" ] && return 0
	if [ "$(pg_config --bindir)" != "$SYS_BINDIR" ]; then
		SKIP_REASON="pg_cron is not installed in the PostgreSQL of $PG_BINDIR"
		return 1
	fi
	install_debs "postgresql-$PG_MAJOR-cron" >/dev/null 2>&1 &&
		[ -f "$(pg_config --sharedir)/extension/pg_cron.control" ] && return 0
	SKIP_REASON="postgresql-$PG_MAJOR-cron could not be installed (no package registry, or not root)"
	return 1
}

# The README's recipe, run as written in a cluster configured as it says,
# with the crm database called shop as there.  The only change the test
# makes is when: the job is moved to the next minute (pg_cron 1.4 has no
# finer schedule), and disabled after its first run.  Customers 1-5 are
# built so that their RFM scores as of the run's day are known by hand
# (customer i: i purchase days 20 days apart, 10 each, the last 10 i days
# before: recency score 6 - i, frequency and monetary i); 1-4 are
# prospects (-> exploration, first_purchase) and 5 is stable, 50 days
# after its last purchase with a 20-day rhythm (-> decline,
# inactive_beyond_rhythm: 50 > max(1.5 x 20, 30)).  20,000 customers
# without purchases make the default batch of 10,000 commit three times.
# Two more jobs, not the recipe, fail as the README's table of errors
# says, and show where it says: one puts a SET before the CALL (pg_cron
# runs such a command as one transaction block, where the refresh cannot
# commit), the other runs as a login role that is not a member of
# crm_admin.  A job as crm_admin itself (NOLOGIN) is refused at once.
cron_refresh_check() {
	local conf sql job bad i
	cron_available || return 77
	conf=$(readme_block pg_cron.conf) sql=$(readme_block pg_cron.sql)
	[ -n "$conf" ] && [ -n "$sql" ] || { say "# README.md: no pg_cron recipe"; return 1; }
	(
		local settings=()
		while IFS= read -r i; do
			i=${i%%#*}
			[ -n "${i// /}" ] && settings+=("$i")
		done <<<"$conf"
		cluster_start "${settings[@]}"
		psql_q -c "CREATE DATABASE shop" &&
			psql_q -d shop <<-'SQL' &&
				CREATE EXTENSION crm;
				INSERT INTO crm.customers (customer_id, stage, summary)
				SELECT i, CASE WHEN i = 5 THEN 'stable' ELSE 'prospect' END::crm.stage,
				       (SELECT crm.summarize(current_date - 10 * i - 20 * k, 10::numeric) FROM generate_series(0, i - 1) k)
				FROM generate_series(1, 5) i;
				INSERT INTO crm.customers (customer_id) SELECT g FROM generate_series(101, 20100) g;
			SQL
			printf '%s\n' "$sql" | psql_q -d postgres >/dev/null &&
			say "# README recipe run: $(psql -X -At -c "SELECT format('job %s: %s, %L, in %s as %s', jobname, schedule, command, database, username)
				FROM cron.job WHERE jobname = 'crm-refresh'")" &&
			psql_q -c "CREATE ROLE crm_report LOGIN IN ROLE crm_reader" \
				-c "SELECT cron.schedule_in_database('crm-refresh-set', '* * * * *',
				'SET crm.as_of = ''2025-12-31''; CALL crm.refresh(commit_batches => true)', 'shop', 'crm_nightly')" \
				-c "SELECT cron.schedule_in_database('crm-refresh-reader', '* * * * *', 'CALL crm.refresh()', 'shop', 'crm_report')" \
				-c "SELECT cron.alter_job(jobid, schedule => '* * * * *') FROM cron.job WHERE jobname = 'crm-refresh'" >/dev/null || exit 1
		bad=$(psql -X -q -c "SELECT cron.schedule_in_database('crm-refresh-admin', '* * * * *', 'CALL crm.refresh()', 'shop', 'crm_admin')" 2>&1)
		say "# a job as crm_admin: ${bad%%$'\n'*}"
		[ "${bad%%$'\n'*}" = 'ERROR:  role "crm_admin" can not log in' ] || exit 1
		# all three run at the next minute
		for i in $(seq 1 150); do
			[ "$(psql -X -At -c "SELECT count(*) FROM cron.job_run_details WHERE status IN ('succeeded', 'failed')")" -ge 3 ] && break
			sleep 1
		done
		psql_q -c "SELECT cron.alter_job(jobid, active => false) FROM cron.job" >/dev/null
		psql -X -At -F ' ' -c "SELECT j.jobname, d.status, d.username, d.database, d.return_message
			FROM cron.job_run_details d JOIN cron.job j USING (jobid) ORDER BY d.runid" | sed 's/^/# run: /'
		job=$(psql -X -At -c "SELECT d.status || ' ' || d.username || ' ' || d.database || ' ' || coalesce(d.start_time::date::text, '-')
			FROM cron.job_run_details d JOIN cron.job j USING (jobid) WHERE j.jobname = 'crm-refresh' ORDER BY d.runid LIMIT 1")
		[ "${job% *}" = "succeeded crm_nightly shop" ] || { say "# the recipe's job: ${job:-did not run}"; exit 1; }
		# as of the run's day: scores, stages, history by the job's role,
		# every customer scored, three batch transactions
		bad=$(psql -X -At -d shop -v day="${job##* }" <<-'SQL'
			-- the scores worked out by hand; the stage the walk gives for the
			-- same history as of the run's day (its rules are tested elsewhere)
			SELECT 'customer ' || c.customer_id || ': ' || coalesce(c.rfm::text, '-') || ' ' || c.stage || ' ' || coalesce(c.stage_reason, '-')
			FROM crm.customers c
			JOIN (VALUES (1, '5-1-1'), (2, '4-2-2'), (3, '3-3-3'), (4, '2-4-4'), (5, '1-5-5')) e(id, rfm) ON e.id = c.customer_id
			LEFT JOIN LATERAL (SELECT w.to_stage, w.reason FROM crm.walk_stages(CASE WHEN c.customer_id = 5 THEN 'stable' ELSE 'prospect' END::crm.stage,
			                                                         c.summary, :'day'::date) w
			                   ORDER BY w.day DESC LIMIT 1) w ON true
			WHERE c.rfm::text IS DISTINCT FROM e.rfm OR c.stage IS DISTINCT FROM coalesce(w.to_stage, 'prospect')
			   OR c.stage_reason IS DISTINCT FROM w.reason;
			SELECT 'customers not scored on ' || :'day' || ': ' || count(*) FROM crm.customers
			WHERE scored_on IS DISTINCT FROM :'day'::date HAVING count(*) > 0;
			SELECT 'history: ' || coalesce(string_agg(customer_id || ' ' || to_stage || ' ' || source || ' ' || changed_by, ', '), 'none')
			FROM crm.stage_history HAVING count(*) < 5 OR bool_or(source <> 'inference' OR changed_by <> 'crm_nightly');
			SELECT 'batch transactions: ' || count(DISTINCT xmin::text) FROM crm.customers HAVING count(DISTINCT xmin::text) <> 3;
			SELECT 'cutpoints not refreshed' WHERE NOT EXISTS (SELECT FROM crm.scoring WHERE refreshed_at::date = :'day'::date);
			-- the run log: the job's run only (the failing jobs fail before a run starts)
			SELECT 'run log: ' || coalesce(string_agg(status || ' ' || run_by || ' ' || customers_done || '/' || customers_total || ' ' || as_of, ', '), 'none')
			FROM crm.refresh_runs
			HAVING count(*) <> 1 OR bool_or(status <> 'succeeded' OR run_by <> 'crm_nightly' OR customers_done <> 20005
			                                OR customers_total <> 20005 OR as_of <> :'day'::date OR finished_at IS NULL);
		SQL
		)
		[ -z "$bad" ] || { printf '%s\n' "$bad" | sed 's/^/# /'; exit 1; }
		say "# the job ran as crm_nightly in shop: RFM 5-1-1 .. 1-5-5 and the stages walked as of ${job##* }, 20,005 customers in 3 committed batches, logged in crm.refresh_runs as succeeded"
		# the failed runs: in cron.job_run_details and in the server log
		cron_failure crm-refresh-set "crm.refresh() cannot commit its batches inside a transaction block" &&
			cron_failure crm-refresh-reader "permission denied for procedure refresh"
	)
}

# cron_failure JOB ERROR: the job's run failed with ERROR, and the server
# log says so
cron_failure() {
	local run
	run=$(psql -X -At -c "SELECT d.status || ': ' || d.return_message FROM cron.job_run_details d JOIN cron.job j USING (jobid)
		WHERE j.jobname = '$1'")
	say "# $1: ${run%%$'\n'*}"
	[ "${run%%$'\n'*}" = "failed: ERROR: $2" ] &&
		grep -q "cron job [0-9]*: ERROR: $2" "$CLUSTER_DIR/server.log" &&
		say "# and in the server log: $(grep -m1 "cron job [0-9]*: ERROR: $2" "$CLUSTER_DIR/server.log" | sed 's/^.*LOG: *//')"
}

# PGXN metadata and pg_cron; run from run.sh once the source build is
# installed (pg_cron's own cluster: the main one must be stopped).
operations_checks() {
	check "PGXN metadata" meta_check \
		"META.json holds what PGXN requires and agrees with crm.control, debian/changelog and CHANGELOG.md"
	check "pg_cron: the README's nightly refresh" cron_refresh_check \
		"the README's pg_cron recipe runs CALL crm.refresh() as crm_nightly in shop: succeeded, scores and stages as of the run's day, batches committed apart; the failures the README lists show where it says"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	case "${1:-}" in
	deb) deb_build && [ "$LINTIAN_ERRORS" = 0 ] ;;
	*) die "usage: test/packaging.sh deb" ;;
	esac
fi
