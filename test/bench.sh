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
-- the same orders, hash-partitioned by customer: partitionwise aggregation
-- gives each worker whole customers, so nothing needs combining
CREATE TABLE bench.orders_by_customer (LIKE bench.orders) PARTITION BY HASH (customer_id);
SELECT format('CREATE TABLE bench.orders_by_customer_%s PARTITION OF bench.orders_by_customer
               FOR VALUES WITH (MODULUS 8, REMAINDER %s)', r, r) FROM generate_series(0, 7) r \gexec
INSERT INTO bench.orders_by_customer SELECT * FROM bench.orders;
VACUUM ANALYZE bench.orders_by_customer;
CREATE TABLE bench.summaries AS
SELECT customer_id, crm.summarize(ordered_at, amount) AS s FROM bench.orders GROUP BY customer_id;
CREATE TABLE bench.cutpoints AS SELECT crm.rfm_quantiles(s, DATE '2025-12-31') AS c FROM bench.summaries;
VACUUM ANALYZE bench.summaries, bench.cutpoints;
-- every customer's RFM segment features (recency score, rounded FM score)
CREATE TABLE bench.rfm_features AS
SELECT customer_id, crm.recency_score(r)::float8 AS r,
       round((crm.frequency_score(r) + crm.monetary_score(r)) / 2.0)::float8 AS fm
FROM (SELECT customer_id, crm.rfm_score(s, c) AS r FROM bench.summaries, bench.cutpoints) q WHERE r IS NOT NULL;
VACUUM ANALYZE bench.rfm_features;
-- 100,000 customers with stages, for the history trigger case
INSERT INTO crm.customers (customer_id, stage) SELECT g, 'stable' FROM generate_series(1, 100000) g;
VACUUM ANALYZE crm.customers;
SQL

# the CDNOW calibration summary, for the model-fitting cases
psql -X -q -v ON_ERROR_STOP=1 <<SQL
\\set published \`cat "$CRM_DATA/cdnow/cdnow_customers_summary_with_transactions.csv"\`
CREATE TABLE bench.cdnow AS
SELECT f[2]::int AS x, f[3]::float8 AS t_x, f[4]::float8 AS "T", f[5]::float8 AS zbar
FROM (SELECT string_to_array(btrim(line, E' \\r'), ',') AS f
      FROM regexp_split_to_table(:'published', E'\\n') WITH ORDINALITY AS l(line, n) WHERE n > 1) s;
VACUUM ANALYZE bench.cdnow;
SQL
# the donations summary (BG/BB), and a BG/NBD model of the generated
# customers calibrated to 2025-09-30, for the validation report
psql -X -q -v ON_ERROR_STOP=1 <<SQL
\\set published \`cat "$CRM_DATA/donations/donations_summary.csv"\`
CREATE TABLE bench.donations AS
SELECT f[1]::int AS x, f[2]::int AS t_x, f[3]::int AS n, f[4]::int AS donors
FROM (SELECT string_to_array(btrim(line, E' \\r'), ',') AS f
      FROM regexp_split_to_table(:'published', E'\\n') WITH ORDINALITY AS l(line, k)
      WHERE k > 1 AND btrim(line, E' \\r') <> '') s;
CREATE TABLE bench.calibrated AS SELECT crm.fit_bgnbd(s, DATE '2025-09-30', '1 week') AS m FROM bench.summaries;
VACUUM ANALYZE bench.donations, bench.calibrated;
SQL
rm -f "$work"/*.csv

SERIAL="SET max_parallel_workers_per_gather = 0;"
SORTED="SET enable_hashagg = off;"
# parallel_tuple_cost stays above 0 so that the planner aggregates in the
# workers rather than gathering every row first
PARALLEL="SET max_parallel_workers_per_gather = 2; SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0.001;"
LEADER_OFF="SET parallel_leader_participation = off;"

# exec_ms SETTINGS QUERY: server execution time in ms.  WARM=1 runs the
# query once in the same session first (for queries of a few milliseconds,
# where loading the library and catalog caches would dominate).
exec_ms() {
	local warm=()
	[ "${WARM:-0}" = 1 ] && warm=(-c "$2")
	psql -X -At -v ON_ERROR_STOP=1 -c "SET search_path = bench, crm, public; $1" "${warm[@]}" \
		-c "EXPLAIN (ANALYZE, TIMING OFF, COSTS OFF) $2" |
		sed -n 's/^Execution Time: \([0-9.]*\) ms$/\1/p'
}

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# plan_shape SETTINGS QUERY: the plan's node names, to show what was timed
plan_shape() {
	psql -X -At -c "SET search_path = bench, crm, public; $1" -c "EXPLAIN (COSTS OFF) $2" |
		sed -n 's/^[ ->]*\([A-Z][A-Za-z ]*\).*/\1/p' | sed 's/ *$//' |
		grep -vE '^(SET|Group Key|Sort Key|Workers Planned|Hash Cond|Join Filter|CTE [a-z]+)$' | awk '!seen[$0]++' |
		paste -sd'<' | sed 's/</ < /g'
}

ROWS=()
QUOTED=()
# bench_quoted NAME GOAL SETTINGS QUERY QUOTED_MS SOURCE: our median against
# a figure quoted from elsewhere (a tool that cannot run here)
bench_quoted() {
	local name=$1 goal=$2 os=$3 oq=$4 qms=$5 src=$6 i ours=() om ratio verdict
	exec_ms "$os" "$oq" >/dev/null
	for ((i = 0; i < RUNS; i++)); do
		ours+=("$(exec_ms "$os" "$oq")")
	done
	om=$(printf '%s\n' "${ours[@]}" | median)
	ratio=$(awk -v o="$om" -v b="$qms" 'BEGIN { printf "%.3f", o / b }')
	verdict=$(awk -v r="$ratio" -v g="$goal" 'BEGIN { print (g == "-") ? "" : (r <= g) ? "met" : "MISSED" }')
	printf '  %s\n    ours:     %s\n    quoted:   %s\n' "$name" "$(plan_shape "$os" "$oq")" "$src"
	QUOTED+=("$(printf '%-52s %10.1f %10.1f %8s   <= %-6s %s' "$name" "$om" "$qms" "$ratio" "$goal" "$verdict")")
	LAST_OURS=$om
}
# bench_case NAME GOAL OURS_SETTINGS OURS_QUERY BASE_SETTINGS BASE_QUERY
# GOAL is the largest acceptable ratio ours/baseline, or - for none.
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
	verdict=$(awk -v r="$ratio" -v g="$goal" 'BEGIN { print (g == "-") ? "" : (r <= g) ? "met" : "MISSED" }')
	printf '  %s\n    ours:     %s\n    baseline: %s\n' "$name" "$(plan_shape "$os" "$oq")" "$(plan_shape "$bs" "$bq")"
	ROWS+=("$(printf '%-52s %10.1f %10.1f %8s   <= %-6s %s' "$name" "$om" "$bm" "$ratio" "$goal" "$verdict")")
	LAST_OURS=$om LAST_BASE=$bm
}

GROUP_SUMMARY="SELECT customer_id, crm.summarize(ordered_at, amount) FROM orders GROUP BY customer_id"
GROUP_BARE="SELECT customer_id, count(*), max(ordered_at), sum(amount) FROM orders GROUP BY customer_id"
PART_SUMMARY="SELECT customer_id, crm.summarize(ordered_at, amount) FROM orders_by_customer GROUP BY customer_id"
PARTITIONWISE="SET enable_partitionwise_aggregate = on;"
# the whole RFM pass: summaries, quintile cutpoints, a score per customer
RFM_PASS="WITH s AS MATERIALIZED (SELECT customer_id, crm.summarize(ordered_at, amount) AS s FROM orders GROUP BY customer_id),
     c AS MATERIALIZED (SELECT crm.rfm_quantiles(s, DATE '2025-12-31') AS c FROM s)
SELECT customer_id, crm.rfm_score(s.s, c.c) FROM s, c"
# what users write today: three NTILE(5) windows over a GROUP BY, with
# count(*) (orders, not purchase days) or with the measures crm computes
RFM_NTILE_DAYS="WITH g AS (SELECT customer_id, DATE '2025-12-31' - max(ordered_at) FILTER (WHERE amount >= 0) AS recency,
                  count(DISTINCT ordered_at) FILTER (WHERE amount >= 0) AS frequency,
                  sum(amount) AS monetary FROM orders GROUP BY customer_id)
SELECT customer_id, ntile(5) OVER (ORDER BY recency DESC) AS r, ntile(5) OVER (ORDER BY frequency) AS f,
       ntile(5) OVER (ORDER BY monetary) AS m FROM g"
RFM_NTILE="WITH g AS (SELECT customer_id, DATE '2025-12-31' - max(ordered_at) AS recency, count(*) AS frequency,
                  sum(amount) AS monetary FROM orders GROUP BY customer_id)
SELECT customer_id, ntile(5) OVER (ORDER BY recency DESC) AS r, ntile(5) OVER (ORDER BY frequency) AS f,
       ntile(5) OVER (ORDER BY monetary) AS m FROM g"
SCORE_ONLY="SELECT count(crm.rfm_score(s.s, c.c)) FROM summaries s, cutpoints c"
SCAN_ONLY="SELECT count(s.s) FROM summaries s, cutpoints c"

orders=$(psql -X -At -c "SELECT count(*) FROM bench.orders")
customers=$(psql -X -At -c "SELECT count(*) FROM bench.summaries")
echo "crm bench: customers=$customers orders=$orders runs=$RUNS (medians, ms)"
echo "plans timed:"

bench_case "summaries vs bare GROUP BY, serial (hash plans)" 1.30 \
	"$SERIAL" "$GROUP_SUMMARY" "$SERIAL" "$GROUP_BARE"
bench_case "summaries vs bare GROUP BY, serial (sort plans)" 1.30 \
	"$SERIAL $SORTED" "$GROUP_SUMMARY" "$SERIAL $SORTED" "$GROUP_BARE"
bench_case "summaries: 2 workers (sort) vs serial (hash)" 0.667 \
	"$PARALLEL $SORTED" "$GROUP_SUMMARY" "$SERIAL" "$GROUP_SUMMARY"
bench_case "summaries: 2 workers vs serial, both sort plans" 0.667 \
	"$PARALLEL $SORTED" "$GROUP_SUMMARY" "$SERIAL $SORTED" "$GROUP_SUMMARY"
bench_case "summaries, hash-partitioned: 2 workers vs serial" 0.667 \
	"$PARALLEL $LEADER_OFF $PARTITIONWISE" "$PART_SUMMARY" "$SERIAL $PARTITIONWISE" "$PART_SUMMARY"
bench_case "RFM pass vs NTILE over count(*), serial (>= 2x)" 0.50 \
	"$SERIAL" "$RFM_PASS" "$SERIAL" "$RFM_NTILE"
bench_case "RFM pass vs NTILE over purchase days, serial (>= 2x)" 0.50 \
	"$SERIAL" "$RFM_PASS" "$SERIAL" "$RFM_NTILE_DAYS"
bench_case "RFM pass vs NTILE over purchase days, sort plans" 0.50 \
	"$SERIAL $SORTED" "$RFM_PASS" "$SERIAL $SORTED" "$RFM_NTILE_DAYS"
bench_case "RFM pass vs bare GROUP BY, serial" 1.30 \
	"$SERIAL" "$RFM_PASS" "$SERIAL" "$GROUP_BARE"
bench_case "rfm_score on stored summaries vs the scan alone" - \
	"$SERIAL" "$SCORE_ONLY" "$SERIAL" "$SCAN_ONLY"
score_rate=$(awk -v n="$customers" -v o="$LAST_OURS" -v b="$LAST_BASE" \
	'BEGIN { printf "%.1f", (o > b) ? n / ((o - b) / 1000) / 1e6 : 0 }')
# the rfm_segments preset against the CASE expression a user would write for it
SEGMENT_CASE="SELECT count(CASE WHEN r >= 4 AND fm >= 4 THEN 'Champions' WHEN r = 3 AND fm >= 4 THEN 'Loyal Customers'
    WHEN r >= 4 AND fm >= 2 THEN 'Potential Loyalists' WHEN r = 5 THEN 'New Customers' WHEN r = 4 THEN 'Promising'
    WHEN r = 3 AND fm = 3 THEN 'Need Attention' WHEN r = 3 THEN 'About to Sleep' WHEN r = 2 AND fm >= 3 THEN 'At Risk'
    WHEN r = 1 AND fm = 3 THEN 'At Risk' WHEN r = 1 AND fm >= 4 THEN 'Can''t Lose Them' WHEN r = 2 THEN 'Hibernating'
    ELSE 'Lost' END) FROM rfm_features"
SEGMENT_LABEL="SELECT count(crm.segment('rfm_segments', ARRAY[r, fm])) FROM rfm_features"
SEGMENT_REASON="SELECT count((crm.explain_segment('rfm_segments', ARRAY[r, fm])).reason) FROM rfm_features"
bench_case "rfm_segments label vs a hand-written CASE" 1.20 \
	"$SERIAL" "$SEGMENT_LABEL" "$SERIAL" "$SEGMENT_CASE"
bench_case "rfm_segments with reason vs label only" 3.00 \
	"$SERIAL" "$SEGMENT_REASON" "$SERIAL" "$SEGMENT_LABEL"
bench_case "rfm_segments label vs the scan alone" - \
	"$SERIAL" "$SEGMENT_LABEL" "$SERIAL" "SELECT count(ARRAY[r, fm]) FROM rfm_features"
segment_rate=$(awk -v n="$customers" -v o="$LAST_OURS" -v b="$LAST_BASE" \
	'BEGIN { printf "%.1f", (o > b) ? n / ((o - b) / 1000) / 1e6 : 0 }')
bench_case "next_stage on stored summaries vs the scan alone" - \
	"$SERIAL" "SELECT count(crm.next_stage('stable', s, DATE '2025-12-31')) FROM summaries" "$SERIAL" "$SCAN_ONLY"
infer_rate=$(awk -v n="$customers" -v o="$LAST_OURS" -v b="$LAST_BASE" \
	'BEGIN { printf "%.1f", (o > b) ? n / ((o - b) / 1000) / 1e6 : 0 }')
# both directions are legal, so the same UPDATE can run again and again;
# the baseline is the same UPDATE on the same table with its triggers off
# (session_replication_role = replica skips ordinary triggers)
TOGGLE="SET stage = CASE WHEN stage = 'stable' THEN 'decline'::crm.stage ELSE 'stable'::crm.stage END"
bench_case "UPDATE 100k stages: guard + history vs no triggers" 1.30 \
	"$SERIAL" "UPDATE crm.customers $TOGGLE" "$SERIAL SET session_replication_role = replica;" "UPDATE crm.customers $TOGGLE"

WARM=1 bench_quoted "CDNOW BG/NBD fit (>= 20x faster than lifetimes)" 0.05 \
	"$SERIAL" "SELECT crm.fit_bgnbd(x, t_x, \"T\") FROM cdnow" 55 "lifetimes BetaGeoFitter, 55 ms (issue 4)"
WARM=1 bench_quoted "CDNOW Pareto/NBD fit (>= 20x faster than lifetimes)" 0.05 \
	"$SERIAL" "SELECT crm.fit_pareto_nbd(x, t_x, \"T\") FROM cdnow" 356 "lifetimes ParetoNBDFitter, 356 ms (issue 4)"
# standard errors: the same fits with crm.standard_errors off (issue 18)
NO_SE="SET crm.standard_errors = off;"
WARM=1 bench_case "CDNOW BG/NBD fit with standard errors vs without" 1.20 \
	"$SERIAL" "SELECT crm.fit_bgnbd(x, t_x, \"T\") FROM cdnow" "$SERIAL $NO_SE" "SELECT crm.fit_bgnbd(x, t_x, \"T\") FROM cdnow"
WARM=1 bench_case "CDNOW Pareto/NBD fit with standard errors vs without" 1.20 \
	"$SERIAL" "SELECT crm.fit_pareto_nbd(x, t_x, \"T\") FROM cdnow" "$SERIAL $NO_SE" "SELECT crm.fit_pareto_nbd(x, t_x, \"T\") FROM cdnow"
bench_case "1M customers: BG/NBD fit with standard errors vs without" 1.20 \
	"$SERIAL" "SELECT crm.fit_bgnbd(s, DATE '2025-12-31', '1 week') FROM summaries" \
	"$SERIAL $NO_SE" "SELECT crm.fit_bgnbd(s, DATE '2025-12-31', '1 week') FROM summaries"
# the validation report of a fitted model, from the orders: summaries,
# then crm.validate (calibration to 2025-09-30, holdout to 2025-12-31)
VALIDATE="SELECT crm.validate((SELECT m FROM calibrated), q.s, DATE '2025-09-30', DATE '2025-12-31')
FROM (SELECT customer_id, crm.summarize(ordered_at, amount) AS s FROM orders GROUP BY customer_id) q"
bench_case "validation report of a model vs bare GROUP BY, serial" 1.50 \
	"$SERIAL" "$VALIDATE" "$SERIAL" "$GROUP_BARE"
bench_case "  part: validation report on stored summaries vs the scan" - \
	"$SERIAL" "SELECT crm.validate((SELECT m FROM calibrated), s, DATE '2025-09-30', DATE '2025-12-31') FROM summaries" \
	"$SERIAL" "SELECT count(s) FROM summaries"
WARM=1 bench_quoted "donations BG/BB fit, warm (under 5 ms)" 1.00 \
	"$SERIAL" "SELECT crm.fit_bgbb(x, t_x, n, donors) FROM donations" 5 "the goal of issue 18, 5 ms"

# 1M customers end to end, and its parts
E2E_FIT="SELECT crm.fit_bgnbd(s, DATE '2025-12-31', '1 week') FROM summaries"
E2E_PREDICT="SELECT count(crm.p_alive(m.m, s.s, DATE '2025-12-31')), sum(crm.expected_purchases(m.m, 52, s.s, DATE '2025-12-31'))
FROM summaries s, (SELECT crm.fit_bgnbd(s, DATE '2025-12-31', '1 week') AS m FROM summaries) m"
E2E="WITH s AS MATERIALIZED (SELECT customer_id, crm.summarize(ordered_at, amount) AS s FROM orders GROUP BY customer_id),
     m AS MATERIALIZED (SELECT crm.fit_bgnbd(s, DATE '2025-12-31', '1 week') AS m FROM s)
SELECT customer_id, crm.p_alive(m.m, s.s, DATE '2025-12-31'), crm.expected_purchases(m.m, 52, s.s, DATE '2025-12-31') FROM s, m"
bench_quoted "1M customers: summaries, BG/NBD fit, predictions (>= 8x)" 0.125 \
	"$SERIAL" "$E2E" 12000 "lifetimes pipeline on 1M customers, 12 s (issue 4)"
bench_quoted "  part: BG/NBD fit on 1M stored summaries" - "$SERIAL" "$E2E_FIT" 7400 "lifetimes fit 7.4 s (issue 4)"
bench_quoted "  part: fit + P(alive) + E[X(52)] on stored summaries" - "$SERIAL" "$E2E_PREDICT" 8000 "lifetimes fit + predict 8.0 s (issue 4)"

echo
printf '%-52s %10s %10s %8s   %s\n' "case" "ours" "baseline" "ratio" "goal"
printf '%s\n' "${ROWS[@]}"
echo
printf '%-52s %10s %10s %8s   %s\n' "case (against a quoted figure)" "ours" "quoted" "ratio" "goal"
printf '%s\n' "${QUOTED[@]}"
echo
echo "rfm_score: $score_rate million calls per second on one core (goal >= 5), net of the scan"
echo "next_stage: $infer_rate million calls per second on one core (goal >= 3), net of the scan"
echo "segment: $segment_rate million classifications per second on one core (goal >= 5), net of the scan"
