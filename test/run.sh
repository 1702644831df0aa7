#!/usr/bin/env bash
# test/run.sh test|demo|bench: the entry points behind `make test`,
# `make demo` and `make bench` (see README.md).
#
#   test   C unit tests of the kernels, pg_regress (sql/ -> expected/) and
#          pgTAP (test/pgtap/*.sql); ends with "N passed, N failed" and
#          exits non-zero on any failure.
#   demo   synthetic customer base (CUSTOMERS, SEED) loaded and reported.
#   bench  timings of our operations against their baselines (CUSTOMERS,
#          RUNS), printed as medians and ratios.
set -u
cd "$(dirname "$0")/.."
. test/lib.sh

mode=${1:-test}
export CRM_SHARED=${CRM_SHARED:-$(cd .. && pwd)/shared}

run_test() {
	local passed=0 failed=0 out t p f

	ensure_packages test
	build_install
	if [ "$BUILD_WARNINGS" = 0 ]; then
		say "ok - build without compiler warnings"; passed=$((passed + 1))
	else
		say "not ok - build printed $BUILD_WARNINGS compiler warning(s)"; failed=$((failed + 1))
	fi

	say "== C unit tests"
	make -s unit >/dev/null || die "unit tests did not build"
	# each kernel test gets the CDNOW calibration summary as its argument
	for t in test/unit/*.bin; do
		out=$("$t" "$CRM_SHARED/data/cdnow/cdnow_customers_summary_with_transactions.csv" 2>&1)
		printf '%s\n' "$out" | grep -E '^(not )?ok ' | sed "s|^|$(basename "$t" .bin): |" | grep -E ': not ok' || true
		p=$(printf '%s\n' "$out" | grep -cE '^ok ' || true)
		f=$(printf '%s\n' "$out" | grep -cE '^not ok ' || true)
		say "$(basename "$t" .bin): $p passed, $f failed"
		passed=$((passed + p)); failed=$((failed + f))
	done

	cluster_start
	say "== pg_regress"
	out=$(make -s installcheck PG_CONFIG="$PG_BINDIR/pg_config" 2>&1)
	printf '%s\n' "$out" | grep -E '\.\.\. ' || true
	p=$(printf '%s\n' "$out" | grep -cE '\.\.\. ok' || true)
	f=$(printf '%s\n' "$out" | grep -cE '\.\.\. (FAILED|failed)' || true)
	if [ "$p" = 0 ] && [ "$f" = 0 ]; then
		printf '%s\n' "$out"; f=1
	fi
	[ "$f" = 0 ] || { [ -f test/results/regression.diffs ] && head -n 200 test/results/regression.diffs; }
	passed=$((passed + p)); failed=$((failed + f))

	say "== pgTAP"
	psql_q -c "CREATE DATABASE crm_tap" >/dev/null
	psql_q -d crm_tap -c "CREATE EXTENSION pgtap" >/dev/null
	out=$(pg_prove -v -d crm_tap test/pgtap/*.sql 2>&1)
	printf '%s\n' "$out" | grep -E '^(not ok|# |Failed|Result|Files=)' || true
	p=$(printf '%s\n' "$out" | grep -cE '^ok [0-9]' || true)
	f=$(printf '%s\n' "$out" | grep -cE '^not ok [0-9]' || true)
	if ! printf '%s\n' "$out" | grep -q '^Result: PASS'; then
		[ "$f" != 0 ] || { printf '%s\n' "$out" | tail -n 30; f=1; }
	fi
	passed=$((passed + p)); failed=$((failed + f))

	say "== pg_dump and restore"
	if dump_restore_check; then
		say "ok - pg_dump of a database using crm restores into a new database, configuration and data included"
		passed=$((passed + 1))
	else
		say "not ok - pg_dump / restore of a database using crm"
		failed=$((failed + 1))
	fi

	cluster_stop
	say "$passed passed, $failed failed"
	[ "$failed" = 0 ]
}

# A database with crm, site configuration and data survives pg_dump and
# restore: configuration tables are dumped without colliding with the rows
# CREATE EXTENSION makes, and everything reads back the same.
dump_restore_check() {
	local dump
	dump=$(mktemp)
	psql_q -c "CREATE DATABASE crm_dump" &&
		psql_q -d crm_dump <<-'SQL' &&
			CREATE EXTENSION crm;
			INSERT INTO crm.stage_thresholds VALUES ('window_days', 60);
			INSERT INTO crm.level_targets VALUES ('hospital', 'partnership');
			INSERT INTO crm.customers (customer_id, customer_class, stage, summary)
			VALUES (1, 'hospital', 'exploration', '{2024-01-01:10,2024-02-01:20}');
			UPDATE crm.customers SET stage = 'formation' WHERE customer_id = 1;
			CREATE TABLE public.scores AS SELECT 1 AS id, '5-4-3'::crm.rfm AS r, 'stable'::crm.stage AS s,
			    'bgnbd(r=1,alpha=2,a=3,b=4)'::crm.btyd_model AS m;
		SQL
		pg_dump -Fc -d crm_dump -f "$dump" &&
		psql_q -c "CREATE DATABASE crm_restored" &&
		pg_restore --exit-on-error -d crm_restored "$dump" &&
		[ "$(psql -X -At -d crm_restored -c "SELECT (SELECT value FROM crm.stage_thresholds_in_effect WHERE name = 'window_days')
			|| ' ' || (SELECT count(*) FROM crm.level_targets) || ' ' || (SELECT stage::text FROM crm.customers)
			|| ' ' || (SELECT count(*) FROM crm.stage_history) || ' ' || (SELECT r::text || s::text FROM public.scores)")" = \
			"60 5 formation 1 5-4-3stable" ]
	local rc=$?
	rm -f "$dump"
	return $rc
}

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
	test/bench.sh
}

case "$mode" in
test) run_test ;;
demo) run_demo ;;
bench) run_bench ;;
*) die "usage: test/run.sh test|demo|bench" ;;
esac
