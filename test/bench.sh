#!/usr/bin/env bash
# test/bench.sh: benchmarks, run by `make bench` (test/run.sh bench) once
# the extension is installed and a throwaway cluster is up.
#
# Each case times our operation and its baseline RUNS times each, runs
# interleaved (ours, baseline, ours, ...) after one warm-up of each, on the
# same data in the same cluster, and prints the medians and their ratio
# ours/baseline next to the goal.  Times are the server's "Execution Time"
# of EXPLAIN (ANALYZE, TIMING OFF): the whole plan runs and every aggregate
# is finalized, but no row is sent to the client.  JIT is off in the bench
# cluster (test/run.sh), so compile time does not blur the comparison.
#
#   CUSTOMERS  customers to generate (default 1000000, about 5.5 orders each)
#   RUNS       timed runs per side and case (default 5)
#   SEED       generator seed (default 20240601)
set -eu
cd "$(dirname "$0")/.."
CUSTOMERS=${CUSTOMERS:-1000000}
RUNS=${RUNS:-5}
SEED=${SEED:-20240601}

work=$(mktemp -d /tmp/crm-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
cc -std=gnu99 -O2 -o "$work/crm_gen" test/gen/crm_gen.c -lm
"$work/crm_gen" -n "$CUSTOMERS" -s "$SEED" -o "$work"

psql -X -q -v ON_ERROR_STOP=1 <<SQL
CREATE EXTENSION crm;
CREATE SCHEMA bench;
CREATE TABLE bench.orders (customer_id int NOT NULL, ordered_at date NOT NULL, amount numeric(12,2) NOT NULL);
\copy bench.orders FROM '$work/orders.csv' WITH (FORMAT csv)
VACUUM ANALYZE bench.orders;
SQL
rm -f "$work"/*.csv

SERIAL="SET max_parallel_workers_per_gather = 0;"
PARALLEL="SET max_parallel_workers_per_gather = 2; SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0;"

# exec_ms SETTINGS QUERY: server execution time in ms
exec_ms() {
	psql -X -At -v ON_ERROR_STOP=1 -c "SET search_path = bench, crm, public; $1" \
		-c "EXPLAIN (ANALYZE, TIMING OFF, COSTS OFF) $2" |
		sed -n 's/^Execution Time: \([0-9.]*\) ms$/\1/p'
}

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# plan_shape SETTINGS QUERY: the plan's node names, to show what was timed
plan_shape() {
	psql -X -At -c "SET search_path = bench, crm, public; $1" -c "EXPLAIN (COSTS OFF) $2" |
		sed -n 's/^[ ->]*\([A-Z][A-Za-z ]*\).*/\1/p' | sed 's/ *$//' | paste -sd'<' | sed 's/</ < /g'
}

ROWS=()
# bench_case NAME GOAL OURS_SETTINGS OURS_QUERY BASE_SETTINGS BASE_QUERY
# GOAL is the largest acceptable ratio ours/baseline.
bench_case() {
	local name=$1 goal=$2 os=$3 oq=$4 bs=$5 bq=$6 i ours=() base=() om bm ratio verdict
	exec_ms "$os" "$oq" >/dev/null
	exec_ms "$bs" "$bq" >/dev/null
	for ((i = 0; i < RUNS; i++)); do
		ours+=("$(exec_ms "$os" "$oq")")
		base+=("$(exec_ms "$bs" "$bq")")
	done
	om=$(printf '%s\n' "${ours[@]}" | median)
	bm=$(printf '%s\n' "${base[@]}" | median)
	ratio=$(awk -v o="$om" -v b="$bm" 'BEGIN { printf "%.3f", o / b }')
	verdict=$(awk -v r="$ratio" -v g="$goal" 'BEGIN { print (r <= g) ? "met" : "MISSED" }')
	printf '  %s\n    ours:     %s\n    baseline: %s\n' "$name" "$(plan_shape "$os" "$oq")" "$(plan_shape "$bs" "$bq")"
	ROWS+=("$(printf '%-46s %10.1f %10.1f %8s   <= %-6s %s' "$name" "$om" "$bm" "$ratio" "$goal" "$verdict")")
}

GROUP_SUMMARY="SELECT customer_id, crm.summarize(ordered_at, amount) FROM orders GROUP BY customer_id"
GROUP_BARE="SELECT customer_id, count(*), max(ordered_at), sum(amount) FROM orders GROUP BY customer_id"

orders=$(psql -X -At -c "SELECT count(*) FROM bench.orders")
say_cfg="customers=$CUSTOMERS orders=$orders runs=$RUNS (medians, ms)"
echo "crm bench: $say_cfg"
echo "plans timed:"

bench_case "summaries vs bare GROUP BY, serial" 1.30 \
	"$SERIAL" "$GROUP_SUMMARY" "$SERIAL" "$GROUP_BARE"
bench_case "summaries, 2 workers vs serial (>= 1.5x)" 0.667 \
	"$PARALLEL" "$GROUP_SUMMARY" "$SERIAL" "$GROUP_SUMMARY"

echo
printf '%-46s %10s %10s %8s   %s\n' "case" "ours" "baseline" "ratio" "goal"
printf '%s\n' "${ROWS[@]}"
