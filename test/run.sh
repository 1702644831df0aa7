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

	cluster_stop
	say "$passed passed, $failed failed"
	[ "$failed" = 0 ]
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
