#!/usr/bin/env bash
# test/run.sh test|demo|bench: the entry points behind `make test`,
# `make demo` and `make bench` (see README.md).
#
#   test   C unit tests of the kernels, pg_regress (sql/ -> expected/), isolation specs
#          (test/isolation/), pgTAP (test/pgtap/*.sql) and the checks
#          below; ends with "N passed, N failed" and exits non-zero on any
#          failure.
#   demo   synthetic customer base (CUSTOMERS, SEED) loaded and reported.
#   bench  timings of our operations against their baselines (CUSTOMERS,
#          RUNS), printed as medians and ratios.
set -u
cd "$(dirname "$0")/.."
. test/lib.sh
. test/packaging.sh
. test/fdw.sh
. test/citus.sh
. test/stress.sh
. test/valgrind.sh

mode=${1:-test}
export CRM_DATA=${CRM_DATA:-$(pwd)/test/data}

run_test() {
	local passed=0 failed=0 skipped=0 skips=() out t p f

	ensure_packages test
	deb_checks
	build_install
	if [ "$BUILD_WARNINGS" = 0 ]; then
		say "ok - build without compiler warnings"; passed=$((passed + 1))
	else
		say "not ok - build printed $BUILD_WARNINGS compiler warning(s)"; failed=$((failed + 1))
	fi

	say "== how the C files depend on each other (test/check_rooms.sh)"
	out=$(bash test/check_rooms.sh 2>&1)
	printf '%s\n' "$out"
	p=$(printf '%s\n' "$out" | grep -cE '^ok ' || true)
	f=$(printf '%s\n' "$out" | grep -cE '^not ok ' || true)
	[ "$p" != 0 ] || f=$((f + 1))
	passed=$((passed + p)); failed=$((failed + f))

	say "== C unit tests"
	make -s unit >/dev/null || die "unit tests did not build"
	# each kernel test gets the CDNOW calibration summary as its argument
	for t in test/unit/*.bin; do
		out=$("$t" "$CRM_DATA/cdnow/cdnow_customers_summary_with_transactions.csv" 2>&1)
		printf '%s\n' "$out" | grep -E '^(not )?ok ' | sed "s|^|$(basename "$t" .bin): |" | grep -E ': not ok' || true
		p=$(printf '%s\n' "$out" | grep -cE '^ok ' || true)
		f=$(printf '%s\n' "$out" | grep -cE '^not ok ' || true)
		say "$(basename "$t" .bin): $p passed, $f failed"
		passed=$((passed + p)); failed=$((failed + f))
	done

	check "unit tests under ASan+UBSan" sanitize_check \
		"the C unit tests built with clang under AddressSanitizer and UndefinedBehaviorSanitizer: 0 sanitizer errors"
	check "fuzzing the parsers" fuzz_check \
		"every text input, binary receive and deserialize function fuzzed with libFuzzer under ASan+UBSan ($([ -n "${CRM_FUZZ_RUNS:-}" ] && echo "$CRM_FUZZ_RUNS inputs per target from seed 1" || echo "${CRM_FUZZ_SECONDS:-60} s per target from seed 1, two at a time"); FUZZ_SECONDS=N make fuzz for longer): 0 errors"
	valgrind_checks

	cluster_start
	say "== pg_regress and isolation specs"
	out=$(make -s installcheck PG_CONFIG="$PG_BINDIR/pg_config" 2>&1)
	printf '%s\n' "$out" | grep -E '\.\.\. ' || true
	p=$(printf '%s\n' "$out" | grep -cE '\.\.\. ok' || true)
	f=$(printf '%s\n' "$out" | grep -cE '\.\.\. (FAILED|failed)' || true)
	if [ "$p" = 0 ] && [ "$f" = 0 ]; then
		printf '%s\n' "$out"; f=1
	fi
	[ "$f" = 0 ] || cat test/results/regression.diffs test/results/isolation/regression.diffs 2>/dev/null | head -n 200
	passed=$((passed + p)); failed=$((failed + f))

	say "== pgTAP"
	out=$(make -s installcheck-tap PROVE_FLAGS=-v 2>&1)
	printf '%s\n' "$out" | grep -E '^(not ok|# |Failed|Result|Files=)' || true
	p=$(printf '%s\n' "$out" | grep -cE '^ok [0-9]' || true)
	f=$(printf '%s\n' "$out" | grep -cE '^not ok [0-9]' || true)
	if ! printf '%s\n' "$out" | grep -q '^Result: PASS'; then
		[ "$f" != 0 ] || { printf '%s\n' "$out" | tail -n 30; f=1; }
	fi
	passed=$((passed + p)); failed=$((failed + f))

	check "pg_dump and restore" dump_restore_check \
		"pg_dump of a database using crm restores into a new database, configuration and data included"
	check "pg_dump and restore of the sales pipeline" pipeline_restore_check \
		"opportunities and their history survive pg_dump and restore with no history row written twice, and the restored triggers keep writing it"
	check "concurrent writers" concurrency_check \
		"4 bulk writers, a single-order writer and crm.refresh() at once, all creating the same new customers too: no deadlock, no error, every summary exact"
	check "the refresh's run log" refresh_log_check \
		"a refresh of 200,000 customers shows its progress in crm.refresh_runs to another session while it runs, and NOTICEs at the interval set; its counts equal the history rows it wrote; a failed run and a run whose session was terminated are logged as failed"
	check "crashes mid-write" crash_check \
		"kill -9 of the cluster during a tracked COPY of $(crash_orders) orders, during crm.refresh() and during an attach backfill: after restart the committed orders are there, the uncommitted not, every customer equals a recompute, and each can be done again"
	check "soak" soak_check \
		"${CRM_SOAK_CLIENTS:-16} clients for $(soak_seconds) s writing orders, complaints, interactions and stage changes for overlapping customers while crm.refresh() runs again and again: no deadlock, no error, no history row lost, every customer equals a recompute"
	check "upgrade from 0.1.0" "upgrade_check 0.1.0" \
		"ALTER EXTENSION crm UPDATE from 0.1.0 gives the objects of a fresh install and keeps the data"
	check "upgrade from 0.3.0" "upgrade_check 0.3.0" \
		"ALTER EXTENSION crm UPDATE from 0.3.0 gives the objects of a fresh install and keeps the data"
	check "upgrade from 0.3.0 with long histories" upgrade_sealing_check \
		"ALTER EXTENSION crm UPDATE from 0.3.0 seals the stored long histories, keeping every day, and orders go on"
	check "stored models through the upgrade from 0.3.0" btyd_upgrade_check \
		"models stored by 0.3.0 (crm.scoring, a table of the site's own) read the same through the 0.4.0 library before ALTER EXTENSION crm UPDATE, in binary COPY too, and after it"

	run_fdw_checks
	run_citus_checks
	cluster_stop
	operations_checks
	[ "$skipped" = 0 ] || printf '# skipped: %s\n' "${skips[@]}"
	say "$passed passed, $failed failed, $skipped skipped"
	[ "$failed" = 0 ]
}

# the server under valgrind (test/valgrind.sh): pg_regress and pgTAP on
# a cluster of its own, then memcheck's errors with a frame in crm.so
valgrind_checks() {
	check "pg_regress with the server under valgrind" valgrind_regress_check \
		"the pg_regress scripts pass against a server running under valgrind (memcheck)"
	check "pgTAP with the server under valgrind" valgrind_tap_check \
		"pgTAP files pass against the server under valgrind ($([ "${CRM_LONG:-0}" = 1 ] && echo every file || echo "$VALGRIND_TAP"; ); CRM_LONG=1 for every file)"
	check "valgrind errors in crm.so" valgrind_errors_check \
		"memcheck reports 0 errors with a frame in crm.so (invalid reads and writes, uninitialised values, definite leaks), the server's own behaviours suppressed by test/valgrind/postgres.supp"
}

# `make valgrind`: the checks above alone
run_valgrind() {
	local passed=0 failed=0 skipped=0 skips=()
	ensure_packages test
	build_install
	valgrind_checks
	[ "$skipped" = 0 ] || printf '# skipped: %s\n' "${skips[@]}"
	say "$passed passed, $failed failed, $skipped skipped"
	[ "$failed" = 0 ]
}

# clang with libFuzzer and the sanitizer runtimes, installed from Debian
# when missing and we are root; 77 (skip) with SKIP_REASON when not
ensure_clang() {
	local probe
	probe=$(mktemp -d)
	printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return 0; }\n' >"$probe/f.c"
	if ! clang -fsanitize=fuzzer,address,undefined "$probe/f.c" -o "$probe/f" >/dev/null 2>&1; then
		if [ "$(id -u)" = 0 ]; then
			say "crm: installing clang (libFuzzer, sanitizers)"
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clang >/dev/null 2>&1 ||
				{ apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clang >/dev/null 2>&1; }
			clang -fsanitize=fuzzer,address,undefined "$probe/f.c" -o "$probe/f" >/dev/null 2>&1 ||
				DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "libclang-rt-$(clang -dumpversion 2>/dev/null | cut -d. -f1)-dev" >/dev/null 2>&1
		fi
	fi
	clang -fsanitize=fuzzer,address,undefined "$probe/f.c" -o "$probe/f" >/dev/null 2>&1
	local rc=$?
	rm -rf "$probe"
	[ $rc = 0 ] || { SKIP_REASON="clang with libFuzzer and the sanitizers is not installed, and could not be installed from Debian"; return 77; }
}

sanitize_check() {
	ensure_clang || return $?
	PG_CONFIG="$PG_BINDIR/pg_config" test/sanitize.sh
}

fuzz_check() {
	ensure_clang || return $?
	# from the committed corpus only and a fixed seed, for a fixed time per
	# target, two at a time (CRM_FUZZ_SECONDS, default 60: 18 targets in
	# about 9 minutes); how far each gets depends on the machine's speed.
	# CRM_FUZZ_RUNS=N instead: N inputs per target from seed 1, the same
	# inputs on every machine.
	rm -rf build/fuzz/corpus
	if [ -n "${CRM_FUZZ_RUNS:-}" ]; then
		PG_CONFIG="$PG_BINDIR/pg_config" FUZZ_RUNS=$CRM_FUZZ_RUNS test/fuzz/run.sh
	else
		PG_CONFIG="$PG_BINDIR/pg_config" FUZZ_SECONDS=${CRM_FUZZ_SECONDS:-60} FUZZ_SEED=1 FUZZ_JOBS=2 test/fuzz/run.sh
	fi
}

# new_crm_db NAME [psql arguments]: a database with crm installed, then the
# arguments run in it
new_crm_db() {
	local db=$1
	shift
	psql_q -c "CREATE DATABASE $db" && psql_q -d "$db" -c "CREATE EXTENSION crm" "$@" >/dev/null
}

# show_errors DIR: the first errors the sessions of a check printed
show_errors() { cat "$1"/*.out | grep -m5 ERROR | sed 's/^/# /'; }

# check TITLE FUNCTION WHAT: one test of the suite, run by a shell
# function; one that returns 77 is skipped, for the reason in SKIP_REASON
check() {
	local rc
	say "== $1"
	SKIP_REASON=
	$2
	rc=$?
	if [ $rc = 0 ]; then
		say "ok - $3"
		passed=$((passed + 1))
	elif [ $rc = 77 ]; then
		say "ok - $1 # SKIP $SKIP_REASON"
		skips+=("$1: $SKIP_REASON")
		skipped=$((skipped + 1))
	else
		say "not ok - $1"
		failed=$((failed + 1))
	fi
}

# A database with crm, site configuration and data survives pg_dump and
# restore: configuration tables are dumped without colliding with the rows
# CREATE EXTENSION makes, and everything reads back the same.
dump_restore_check() {
	local dump before after
	local fingerprint="SELECT (SELECT value FROM crm.stage_thresholds_in_effect WHERE name = 'window_days')
		|| ' ' || (SELECT count(*) FROM crm.level_targets) || ' ' || (SELECT stage::text FROM crm.customers WHERE customer_id = 1)
		|| ' ' || (SELECT count(*) FROM crm.stage_history) || ' ' || (SELECT r::text || s::text FROM public.scores)
		|| ' ' || (SELECT value FROM crm.settings_in_effect WHERE name = 'loyal_after_surveys')
		|| ' ' || (SELECT string_agg(table_name::text, ',' ORDER BY table_name::text) FROM crm.tracked_tables)
		|| ' ' || (SELECT count(*) FROM crm.complaints) || ' ' || (SELECT count(*) FROM crm.orders)
		|| ' ' || (SELECT count(*) || ':' || sum(transitions) FROM crm.stage_transitions)
		|| ' ' || (SELECT string_agg(customer_id || '=' || coalesce(summary::text, '-') || '/' || stage::text, ' ' ORDER BY customer_id)
		           FROM crm.customers)"
	dump=$(mktemp)
	psql_q -c "CREATE DATABASE crm_dump" &&
		psql_q -d crm_dump <<-'SQL' &&
			CREATE EXTENSION crm;
			INSERT INTO crm.stage_thresholds VALUES ('window_days', 60);
			INSERT INTO crm.level_targets VALUES ('hospital', 'partnership');
			INSERT INTO crm.settings VALUES ('loyal_after_surveys', '5');
			INSERT INTO crm.customers (customer_id, customer_class, stage, summary)
			VALUES (1, 'hospital', 'exploration', '{2024-01-01:10,2024-02-01:20}');
			UPDATE crm.customers SET stage = 'formation' WHERE customer_id = 1;
			CREATE TABLE public.scores AS SELECT 1 AS id, '5-4-3'::crm.rfm AS r, 'stable'::crm.stage AS s,
			    'bgnbd(r=1,alpha=2,a=3,b=4)'::crm.btyd_model AS m;
			SET crm.as_of = '2024-06-30';
			INSERT INTO crm.customers (customer_id) VALUES (2), (3);
			INSERT INTO crm.orders (customer_id, ordered_on, amount)
			VALUES (2, '2024-03-01', 10), (3, '2024-03-02', 5), (2, '2024-04-01', 7);
			INSERT INTO crm.complaints (customer_id, category) VALUES (2, 'billing');
			CREATE TABLE public.shop (id int, cust int, at timestamptz, total numeric);
			INSERT INTO public.shop VALUES (1, 3, '2024-05-01', 9), (2, 4, '2024-05-02', 1);
			SELECT crm.track_orders('public.shop', 'cust', 'at', 'total') AS backfilled \gset
			INSERT INTO public.shop VALUES (3, 3, '2024-06-01', 2);
			-- the history's kept counts are not dumped: made again by the next roll-up
			SELECT crm.roll_up_stage_history() AS rolled \gset
			UPDATE crm.customers SET stage = 'stable' WHERE customer_id = 1;
		SQL
		before=$(psql -X -At -d crm_dump -c "$fingerprint") &&
		pg_dump -Fc -d crm_dump -f "$dump" &&
		psql_q -c "CREATE DATABASE crm_restored" &&
		pg_restore --exit-on-error -d crm_restored "$dump" &&
		after=$(psql -X -At -d crm_restored -c "$fingerprint") &&
		echo "# before:   $before" && echo "# restored: $after" &&
		[ "$before" = "$after" ] &&
		case "$before" in "60 5 stable 5 5-4-3stable 5 crm.orders,shop 1 3 "*) ;; *) false ;; esac &&
		[ "$(psql -X -At -d crm_restored -c "SELECT watermark FROM crm.stage_history_rollup;
			SELECT crm.roll_up_stage_history(); $fingerprint")" = "0
5
$before" ] &&
		# the restored triggers keep tracking
		[ "$(psql -X -At -q -d crm_restored -c "INSERT INTO public.shop VALUES (4, 4, '2024-06-02', 3);
			SELECT summary FROM crm.customers WHERE customer_id = 4")" = "{2024-05-02:1,2024-06-02:3}" ]
	local rc=$?
	rm -f "$dump"
	return $rc
}

# The history trigger writes a row when an opportunity is created; a
# restore loads the opportunities after CREATE EXTENSION made the trigger,
# and must not write their history again (pipeline.c, restoring_dump()).
pipeline_restore_check() {
	local dump fingerprint="SELECT (SELECT count(*) FROM crm.opportunity_history) || ' ' || (SELECT count(*) FROM crm.stage_history)
		|| ' ' || (SELECT string_agg(opportunity_id || '=' || stage || '@' || (stage_since AT TIME ZONE 'UTC'), ' ' ORDER BY opportunity_id) FROM crm.opportunities)"
	local before after
	dump=$(mktemp)
	psql_q -c "CREATE DATABASE crm_pipeline_dump" &&
		psql_q -d crm_pipeline_dump <<-'SQL' &&
			CREATE EXTENSION crm;
			INSERT INTO crm.customers (customer_id) VALUES (1), (2);
			SET crm.change_time = '2025-01-01 10:00+00';
			INSERT INTO crm.opportunities (customer_id, amount) VALUES (1, 1000), (2, 500);
			SET crm.change_time = '2025-01-10 10:00+00';
			UPDATE crm.opportunities SET stage = 'lost' WHERE opportunity_id = 2;
			UPDATE crm.opportunities SET stage = 'qualified' WHERE opportunity_id = 1;
			UPDATE crm.opportunities SET stage = 'presentation' WHERE opportunity_id = 1;
			UPDATE crm.opportunities SET stage = 'negotiation' WHERE opportunity_id = 1;
			UPDATE crm.opportunities SET stage = 'bidding' WHERE opportunity_id = 1;
			UPDATE crm.opportunities SET stage = 'won' WHERE opportunity_id = 1;
		SQL
		before=$(psql -X -At -d crm_pipeline_dump -c "$fingerprint") &&
		pg_dump -Fc -d crm_pipeline_dump -f "$dump" &&
		psql_q -c "CREATE DATABASE crm_pipeline_restored" &&
		pg_restore --exit-on-error -d crm_pipeline_restored "$dump" &&
		after=$(psql -X -At -d crm_pipeline_restored -c "$fingerprint") &&
		echo "# before:   $before" && echo "# restored: $after" &&
		[ "$before" = "$after" ] &&
		case "$before" in "8 1 1=won@2025-01-10 "*) ;; *) false ;; esac &&
		[ "$(psql -X -At -q -d crm_pipeline_restored -c "INSERT INTO crm.opportunities (customer_id, amount) VALUES (2, 7)" \
			-c "SELECT count(*) FROM crm.opportunity_history WHERE opportunity_id = 3")" = 1 ]
	local rc=$?
	rm -f "$dump"
	return $rc
}

# Bulk loads touching the same customers in opposite orders, single-order
# writes, deletes and the batched refresh, all at once, and every writer
# creating the same new customers: customers are written (and locked) in
# customer_id order everywhere, so nothing deadlocks, and the maintained
# summaries end equal to a recompute.
concurrency_check() {
	local dir=$CLUSTER_DIR/concurrency pids=() rc=0 i
	mkdir -p "$dir"
	new_crm_db crm_conc -c "INSERT INTO crm.customers (customer_id) SELECT g FROM generate_series(1, 3000) g" \
		-c "CREATE TABLE public.shop (id serial PRIMARY KEY, buyer bigint, day date, total numeric)" \
		-c "SELECT crm.track_orders('public.shop', 'buyer', 'day', 'total')" || return 1
	for i in 1 2 3 4; do
		cat >"$dir/bulk$i.sql" <<-SQL
			SET crm.as_of = '2025-12-31';
			SELECT setseed(0.$i);
			SELECT format('INSERT INTO crm.orders (customer_id, ordered_on, amount)
			               SELECT c, DATE ''2025-01-01'' + (c * %s + %s) %% 300, 10 + %s
			               FROM generate_series(1, 3000) c ORDER BY c %s', $i, n, n, CASE WHEN ($i + n) % 2 = 0 THEN 'DESC' ELSE 'ASC' END)
			FROM generate_series(1, 12) n \gexec
			DELETE FROM crm.orders WHERE order_id % 11 = $i;
			-- customers 5001..5600 do not exist: every writer creates them at once
			SELECT format('INSERT INTO public.shop (buyer, day, total)
			               SELECT 5000 + c, DATE ''2025-02-01'' + (c + %s) %% 200, %s FROM generate_series(1, 600) c ORDER BY c %s',
			              n, n, CASE WHEN ($i + n) % 2 = 0 THEN 'DESC' ELSE 'ASC' END)
			FROM generate_series(1, 4) n \gexec
		SQL
	done
	cat >"$dir/single.sql" <<-'SQL'
		SET crm.as_of = '2025-12-31';
		SELECT format('INSERT INTO crm.orders (customer_id, ordered_on, amount) VALUES (%s, DATE ''2025-06-01'', 5)', 1 + (g * 7) % 3000)
		FROM generate_series(1, 1500) g \gexec
		SELECT format('INSERT INTO public.shop (buyer, day, total) VALUES (%s, DATE ''2025-06-02'', 7)', 5001 + (g * 13) % 700)
		FROM generate_series(1, 700) g \gexec
	SQL
	for i in 1 2 3 4; do
		psql -X -q -v ON_ERROR_STOP=1 -d crm_conc -f "$dir/bulk$i.sql" >"$dir/bulk$i.out" 2>&1 &
		pids+=($!)
	done
	psql -X -q -v ON_ERROR_STOP=1 -d crm_conc -f "$dir/single.sql" >"$dir/single.out" 2>&1 &
	pids+=($!)
	for i in 1 2 3; do
		psql -X -q -v ON_ERROR_STOP=1 -d crm_conc -c "CALL crm.refresh(as_of => '2025-12-31', batch_size => 250)" || exit 1
	done >"$dir/refresh.out" 2>&1 &
	pids+=($!)
	for i in "${pids[@]}"; do
		wait "$i" || rc=1
	done
	[ $rc = 0 ] || { show_errors "$dir"; return 1; }
	[ "$(psql -X -At -q -d crm_conc -c "SET search_path = crm, public" -c "SELECT count(*) FROM crm.customers c
		FULL JOIN (SELECT customer_id, crm.summarize(summary) AS summary FROM
		             (SELECT * FROM crm.table_summaries('crm.orders') UNION ALL SELECT * FROM crm.table_summaries('public.shop')) u
		           GROUP BY 1) r USING (customer_id)
		WHERE crm.full_summary(c.customer_id, c.summary) IS DISTINCT FROM r.summary")" = 0 ] &&
		[ "$(psql -X -At -d crm_conc -c "SELECT count(*) > 80000 FROM crm.orders")" = t ] &&
		[ "$(psql -X -At -d crm_conc -c "SELECT count(*) FROM crm.customers WHERE customer_id > 5000")" = 700 ]
}

# crm.refresh() logs its run in crm.refresh_runs (src/progress.c).  200,000
# customers bought on days spread over two years, refreshed as of a day
# far after: many move (decline, terminated).  From a second session, the
# run is seen running with some customers done and fewer than all; its
# NOTICEs come at most at the interval set (1 s here), not once per
# batch; its
# final counts are those of the crm.stage_history rows it wrote.  Then a
# run is terminated while running (the next run marks it failed: its
# session ended), and a run fails at customer 150,000 (a trigger raises):
# failed, with the error, the first 14 batches of 10,000 done and logged.
refresh_log_check() {
	local dir=$CLUSTER_DIR/refresh-log db=crm_refresh_log seen="" i pid row mark
	mkdir -p "$dir"
	new_crm_db $db -c "INSERT INTO crm.customers (customer_id) SELECT g FROM generate_series(1, 200000) g" \
		-c "SET crm.as_of = '2025-12-31'" \
		-c "INSERT INTO crm.orders (customer_id, ordered_on, amount)
		    SELECT c, DATE '2024-01-01' + (c * 37 + k * 91) % 700, 10 + c % 50
		    FROM generate_series(1, 200000) c, generate_series(1, 1 + c % 4) k" \
		-c "CALL crm.refresh('2025-12-31')" \
		-c "SET crm.as_of = '2025-12-31'" \
		-c "INSERT INTO crm.interactions (customer_id, occurred_at, channel, direction, topic)
		    SELECT c, TIMESTAMPTZ '2025-12-01' + (c % 30) * interval '1 day', (ARRAY['phone', 'email', 'web'])[1 + k], 'inbound', 'question'
		    FROM generate_series(1, 200000, 3) c, generate_series(0, 2) k" \
		-c "INSERT INTO crm.settings VALUES ('refresh_progress_interval', '1 second')" \
		>"$dir/setup.out" 2>&1 || { cat "$dir/setup.out"; return 1; }
	mark=$(psql -X -At -d $db -c "SELECT max(history_id) FROM crm.stage_history")
	psql -X -q -d $db -c "CALL crm.refresh('2026-09-30')" >"$dir/refresh.out" 2>&1 &
	pid=$!
	for i in $(seq 1 600); do
		row=$(psql -X -At -d $db -c "SELECT customers_done || ' of ' || customers_total FROM crm.refresh_runs
			WHERE as_of = '2026-09-30' AND status = 'running' AND customers_done > 0 AND customers_done < customers_total")
		if [ -n "$row" ]; then seen=$row; break; fi
		kill -0 $pid 2>/dev/null || break
		sleep 0.05
	done
	wait $pid || { cat "$dir/refresh.out"; return 1; }
	say "# seen from another session while it ran: ${seen:-nothing} customers done"
	grep -E 'NOTICE' "$dir/refresh.out" | sed -n '1p;2p;$p' | sed 's/^/# /'
	[ -n "$seen" ] || return 1
	# progress NOTICEs: at most one a second, not one per batch (20)
	i=$(grep -c 'customers ([0-9]*%), [0-9]* per second' "$dir/refresh.out")
	row=$(psql -X -At -d $db -c "SELECT extract(epoch FROM duration) FROM crm.refresh_runs WHERE as_of = '2026-09-30'")
	say "# $i progress NOTICEs for 20 batches in $row s"
	awk -v n="$i" -v d="$row" 'BEGIN { exit !(n <= d + 1 && (d < 2 || n >= 1)) }' || return 1
	row=$(psql -X -At -d $db -v mark="$mark" <<-'SQL'
		SELECT r.status || ' ' || r.customers_done || '/' || r.customers_total || ' stages ' || r.stages_changed || '=' || h.stages
		       || ' levels ' || r.levels_changed || '=' || h.levels || ' ' || (r.duration > interval '0')::text
		       || ' ' || (r.error IS NULL)::text
		FROM crm.refresh_runs r,
		     (SELECT count(*) FILTER (WHERE from_stage IS DISTINCT FROM to_stage) AS stages,
		             count(*) FILTER (WHERE from_level IS DISTINCT FROM to_level) AS levels
		      FROM crm.stage_history WHERE history_id > :mark) h
		WHERE r.as_of = '2026-09-30';
	SQL
	)
	say "# the run: $row"
	case "$row" in "succeeded 200000/200000 stages "*) ;; *) return 1 ;; esac
	[ "$(echo "$row" | awk '{ split($4, s, "="); split($6, l, "="); print (s[1] == s[2] && l[1] == l[2] && s[1] > 1000 && l[1] > 1000) ? "ok" : "bad" }')" = ok ] &&
		[ "${row##* }" = true ] || return 1
	# a run terminated while it runs, then one that fails
	psql -X -q -d $db -c "CALL crm.refresh('2026-10-31')" >"$dir/killed.out" 2>&1 &
	pid=$!
	for i in $(seq 1 600); do
		[ "$(psql -X -At -d $db -c "SELECT pg_terminate_backend(backend_pid) FROM crm.refresh_runs
			WHERE status = 'running' AND customers_done > 0")" = t ] && break
		sleep 0.05
	done
	wait $pid
	psql -X -q -d $db <<-'SQL' >"$dir/failed.out" 2>&1
		CREATE FUNCTION public.fail_at_150000() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
		    IF NEW.customer_id = 150000 THEN
		        RAISE EXCEPTION 'customer 150000 is broken' USING ERRCODE = 'P0001';
		    END IF;
		    RETURN NEW;
		END $$;
		CREATE TRIGGER fail_at_150000 BEFORE UPDATE ON crm.customers FOR EACH ROW EXECUTE FUNCTION public.fail_at_150000();
		CALL crm.refresh('2026-11-30');
	SQL
	grep -q 'ERROR:  customer 150000 is broken' "$dir/failed.out" || { cat "$dir/failed.out"; return 1; }
	row=$(psql -X -At -d $db -c "SELECT string_agg(as_of || ' ' || status || ' ' || customers_done || ' ' || coalesce(sqlstate, '-') || ' ' || coalesce(error, '-')
		|| ' ' || (finished_at IS NOT NULL)::text, '; ' ORDER BY run_id) FROM crm.refresh_runs WHERE as_of > '2026-09-30'")
	say "# $row"
	case "$row" in "2026-10-31 failed "[1-9]*" - the session running it ended before it finished true; 2026-11-30 failed 140000 P0001 customer 150000 is broken true") ;;
		*) return 1 ;; esac
	# the batches before the failure stay done
	[ "$(psql -X -At -d $db -c "SELECT count(*) FILTER (WHERE scored_on = '2026-11-30') || ' ' || max(customer_id) FILTER (WHERE scored_on = '2026-11-30')
		FROM crm.customers")" = "140000 140000" ]
}

# Every object's definition, grant and comment, one per line: what must be
# the same after an upgrade as after a fresh install.
catalog_of() {
	psql -X -At -d "$1" <<-'SQL'
		WITH ext AS (SELECT oid FROM pg_extension WHERE extname = 'crm'),
		members AS (SELECT d.classid, d.objid, d.objsubid FROM pg_depend d, ext
		            WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = ext.oid AND d.deptype = 'e')
		SELECT x FROM (
		    SELECT 'member ' || pg_describe_object(classid, objid, objsubid)
		           || coalesce(' -- ' || obj_description(objid, classid::regclass::name), '') AS x FROM members
		    UNION ALL SELECT 'function ' || pg_get_functiondef(p.oid) || coalesce(p.proacl::text, '')
		    FROM pg_proc p WHERE p.pronamespace = 'crm'::regnamespace AND p.prokind IN ('f', 'p')
		    UNION ALL SELECT 'relation ' || c.relname || ' ' || c.relkind::text || coalesce(c.reloptions::text, '') || coalesce(c.relacl::text, '')
		           || c.relrowsecurity::text || coalesce(' ' || pg_get_viewdef(c.oid), '')
		    FROM pg_class c WHERE c.relnamespace = 'crm'::regnamespace
		    UNION ALL SELECT 'column ' || a.attrelid::regclass || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
		           || a.attnotnull::text || coalesce(' ' || pg_get_expr(d.adbin, d.adrelid), '') || coalesce(a.attacl::text, '')
		           || coalesce(' -- ' || col_description(a.attrelid, a.attnum), '')
		    FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
		    WHERE c.relnamespace = 'crm'::regnamespace AND a.attnum > 0 AND NOT a.attisdropped
		    UNION ALL SELECT 'constraint ' || conrelid::regclass || ' ' || pg_get_constraintdef(oid) FROM pg_constraint WHERE connamespace = 'crm'::regnamespace
		    UNION ALL SELECT 'trigger ' || pg_get_triggerdef(t.oid) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
		    WHERE c.relnamespace = 'crm'::regnamespace AND NOT t.tgisinternal
		    UNION ALL SELECT 'index ' || pg_get_indexdef(i.indexrelid) FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
		    WHERE c.relnamespace = 'crm'::regnamespace
		    UNION ALL SELECT 'policy ' || polrelid::regclass || ' ' || polname || ' ' || pg_get_expr(polqual, polrelid) FROM pg_policy
		    UNION ALL SELECT 'config ' || u.tbl::regclass || ' ' || u.cond
		    FROM pg_extension e, unnest(e.extconfig, e.extcondition) u(tbl, cond) WHERE e.extname = 'crm'
		    -- the rows the extension ships
		    UNION ALL SELECT 'row setting_defaults ' || t::text FROM crm.setting_defaults t
		    UNION ALL SELECT 'row complaint_categories ' || t::text FROM crm.complaint_categories t
		    UNION ALL SELECT 'row churn_reasons ' || t::text FROM crm.churn_reasons t
		    UNION ALL SELECT 'row level_targets ' || t::text FROM crm.level_targets t
		    UNION ALL SELECT 'row segment_schemes ' || (to_jsonb(t) - 'changed_at')::text FROM crm.segment_schemes t
		    UNION ALL SELECT 'row segment_labels ' || t::text FROM crm.segment_labels t
		    UNION ALL SELECT 'row segment_cells ' || t::text FROM crm.segment_cells t
		    UNION ALL SELECT 'row segment_rules ' || t::text FROM crm.segment_rules t
		) s ORDER BY x;
	SQL
}

# ALTER EXTENSION crm UPDATE from a released version through every later
# one gives the same objects as a fresh install, and keeps data.  The
# released 0.1.0 install script is kept in test/upgrade/; a later release
# is created from it through the frozen upgrade scripts (which the check
# from 0.1.0 shows equal to that release's own install script).
upgrade_check() {
	local from=$1 dir=$CLUSTER_DIR/upgrade-$1 db=crm_upgraded_${1//./_}
	mkdir -p "$dir"
	cp test/upgrade/crm--0.1.0.sql "$(pg_config --sharedir)/extension/" &&
		psql_q -c "CREATE DATABASE $db" &&
		{ psql_q -l -At | grep -q '^crm_fresh|' || { psql_q -c "CREATE DATABASE crm_fresh" && psql_q -d crm_fresh -c "CREATE EXTENSION crm"; }; } &&
		psql_q -d "$db" <<-SQL &&
			CREATE EXTENSION crm VERSION '$from';
			INSERT INTO crm.customers (customer_id, stage) VALUES (1, 'exploration');
			ALTER EXTENSION crm UPDATE;
		SQL
		catalog_of crm_fresh >"$dir/fresh.txt" && catalog_of "$db" >"$dir/upgraded.txt" &&
		{ diff "$dir/fresh.txt" "$dir/upgraded.txt" | head -20 | cut -c1-300 | sed 's/^/# /'; cmp -s "$dir/fresh.txt" "$dir/upgraded.txt"; } &&
		[ "$(wc -l <"$dir/fresh.txt")" -gt 500 ] &&
		[ "$(psql -X -At -q -d "$db" -c "UPDATE crm.customers SET stage = 'formation' WHERE customer_id = 1;
			SELECT extversion FROM pg_extension WHERE extname = 'crm';
			SELECT count(*) || ' ' || max(to_stage::text) FROM crm.stage_history")" = "$(extension_version)
1 formation" ]
}

# A 0.3.0 database whose customers hold summaries as 0.3.0 stored them
# (the full form, version 1, whose layout 0.4.0 keeps and reads as it
# is): the upgrade seals the long one (crm.seal_customers()), its full
# summary is the one stored before, and the order trigger goes on with it.
upgrade_sealing_check() {
	local db=crm_upgraded_sealing
	cp test/upgrade/crm--0.1.0.sql "$(pg_config --sharedir)/extension/" &&
		psql_q -c "CREATE DATABASE $db" &&
		[ "$(psql -X -At -q -v ON_ERROR_STOP=1 -d "$db" <<-SQL
			CREATE EXTENSION crm VERSION '0.3.0';
			INSERT INTO crm.customers (customer_id) VALUES (1), (2);
			UPDATE crm.customers SET summary = (SELECT crm.summarize(DATE '2025-12-31' - d, (10 + d % 7)::numeric)
			                                    FROM generate_series(1, 3000) d) WHERE customer_id = 1;
			UPDATE crm.customers SET summary = '{2025-11-01:5,2025-12-01:7x2}' WHERE customer_id = 2;
			CREATE TEMP TABLE kept AS SELECT customer_id, summary FROM crm.customers;
			ALTER EXTENSION crm UPDATE;
			SET crm.as_of = '2025-12-31';
			SET search_path = crm, public;
			SELECT (SELECT count(*) FROM crm.customers c JOIN kept k USING (customer_id)
			        WHERE crm.full_summary(c.customer_id, c.summary) = k.summary)
			    || ' ' || (SELECT crm.sealed_through(summary) IS NOT NULL AND pg_column_size(summary) < 400 FROM crm.customers WHERE customer_id = 1)
			    || ' ' || (SELECT crm.sealed_through(summary) IS NULL FROM crm.customers WHERE customer_id = 2)
			    || ' ' || (SELECT count(*) FROM crm.summary_blocks);
			INSERT INTO crm.orders (customer_id, ordered_on, amount) VALUES (1, '2025-12-31', 3), (1, '2020-01-01', 4);
			SELECT crm.full_summary(1, summary) = crm.merge((SELECT summary FROM kept WHERE customer_id = 1),
			                                                 '{2020-01-01:4,2025-12-31:3}')
			FROM crm.customers WHERE customer_id = 1;
		SQL
		)" = "2 true true 99
t" ]
}

# crm.btyd_model changed its storage in 0.4.0 (80 fixed bytes to a
# varlena): the 0.4.0 library reads and writes models of a 0.3.0 database
# until its update, which converts them (src/btyd.c, sql/upgrade/0.4.0*.sql).
btyd_upgrade_check() {
	local db=crm_btyd_upgrade dir=$CLUSTER_DIR/btyd-upgrade before copied after
	local q="SELECT string_agg(id || ' ' || m::text || ' ' || round(crm.p_alive(m, 2, 30, 38)::numeric, 9), '; ' ORDER BY id) FROM public.models"
	mkdir -p "$dir"
	cp test/upgrade/crm--0.1.0.sql "$(pg_config --sharedir)/extension/" &&
		psql_q -c "CREATE DATABASE $db" &&
		psql_q -d $db 2>/dev/null <<-'SQL' &&
			CREATE EXTENSION crm VERSION '0.3.0';
			CREATE TABLE public.models (id int, m crm.btyd_model);
			INSERT INTO public.models VALUES (1, 'bgnbd(r=0.243,alpha=4.414,a=0.793,b=2.426)'),
			    (2, (SELECT crm.fit_pareto_nbd(x, t_x, t) FROM (VALUES (1, 2.0, 5.0), (0, 0, 5.0), (3, 4.0, 6.0), (2, 1.0, 7.0)) v(x, t_x, t))),
			    (3, 'mbgnbd(r=1,alpha=2,a=3,b=4) fit(loglik=-10.5,customers=3,iterations=7,converged=false,penalty=0.1,unit_days=7)');
			INSERT INTO crm.scoring (cutpoints, model)
			SELECT crm.rfm_thresholds('2024-12-31', '{30,90,180,365}', '{1,2,4,8}', '{50,100,250,1000}'), m FROM public.models WHERE id = 1;
		SQL
		before=$(psql -X -At -d $db -c "$q") &&
		psql -X -q -v ON_ERROR_STOP=1 -d $db -c "\copy public.models TO '$dir/models.bin' WITH (FORMAT binary)" \
			-c "TRUNCATE public.models" -c "\copy public.models FROM '$dir/models.bin' WITH (FORMAT binary)" &&
		copied=$(psql -X -At -d $db -c "$q") &&
		psql_q -d $db -c "ALTER EXTENSION crm UPDATE" &&
		after=$(psql -X -At -d $db -c "$q") &&
		echo "# 0.3.0: $before" && echo "# copied: $copied" && echo "# 0.4.0: $after" &&
		[ "$before" = "$copied" ] && [ "$before" = "$after" ] &&
		[ "$(psql -X -At -d $db -c "SELECT pg_typeof(s.model)::text || ' ' || (s.model::text = m.m::text)::text
			FROM crm.scoring s, public.models m WHERE m.id = 1")" = "crm.btyd_model true" ] &&
		[ "$(psql -X -At -d $db -c "SELECT count(*) FROM pg_type WHERE typname = 'btyd_model_0_3'")" = 0 ] &&
		psql -X -At -d $db -c "SELECT count(*) FROM crm.customer_360" >/dev/null
}

# the version crm.control installs
extension_version() { sed -n "s/^default_version = '\(.*\)'/\1/p" crm.control; }

run_demo() {
	ensure_packages demo
	build_install
	cluster_start "shared_buffers=512MB" "work_mem=256MB" "maintenance_work_mem=512MB"
	test/demo.sh
}

run_bench() {
	ensure_packages bench
	build_install
	cluster_start "shared_buffers=4GB" "work_mem=2GB" "maintenance_work_mem=1GB" \
		"max_parallel_workers_per_gather=2" "jit=off" "max_wal_size=8GB"
	case "$1" in
	tracking) test/bench_tracking.sh ;;
	history) test/bench_history.sh ;;
	pipeline) test/bench_pipeline.sh ;;
	stages) test/bench_stages.sh ;;
	views) test/bench_views.sh ;;
	attach) test/bench_attach.sh ;;
	scale) test/bench_scale.sh ;;
	*) test/bench.sh && echo && test/bench_tracking.sh && echo && test/bench_history.sh && echo && test/bench_pipeline.sh &&
		echo && test/bench_stages.sh && echo && test/bench_views.sh && echo && test/bench_attach.sh ;;
	esac
}

case "$mode" in
test) run_test ;;
valgrind) run_valgrind ;;
demo) run_demo ;;
bench) run_bench all ;;
bench-tracking) run_bench tracking ;;
bench-history) run_bench history ;;
bench-pipeline) run_bench pipeline ;;
bench-stages) run_bench stages ;;
bench-views) run_bench views ;;
bench-attach) run_bench attach ;;
*) die "usage: test/run.sh test|valgrind|demo|bench|bench-tracking|bench-history|bench-pipeline|bench-stages|bench-views|bench-attach" ;;
esac
