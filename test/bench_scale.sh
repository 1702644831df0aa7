#!/usr/bin/env bash
# test/bench_scale.sh: the scale bench, run by `make bench-scale` (test/run.sh
# bench-scale) once the extension is installed and the bench cluster is up.
#
# Generated orders (test/gen/crm_gen.c, about 5.3 orders per customer) at
# two sizes, CUSTOMERS / 10 and CUSTOMERS; each stage of the analytics:
#
#   summaries    per-customer summaries written into a table
#   cutpoints    crm.rfm_quantiles over the summaries
#   scores       crm.rfm_score of every customer
#   fit          crm.fit_bgnbd over the summaries (standard errors off)
#   predictions  crm.expected_purchases of every customer, 52 weeks
#   segments     customers per RFM segment
#   stages       crm.next_stage of every customer
#
# run single node serial, single node with 2 parallel workers, and, where
# Citus is installed, on a coordinator and two workers on loopback (the
# orders and summaries distributed by customer, the row gather disabled);
# median of RUNS runs (psql's \\timing: Citus cannot EXPLAIN ANALYZE a split
# aggregate, whose partials are cstring), the ratio to
# serial, and the backend's peak resident memory (VmHWM, which counts the
# shared buffers the backend touched as well) per stage, single node.
#
#   CUSTOMERS  customers of the larger size (default 2000000: ~10M orders)
#   RUNS       timed runs per stage and mode (default 3)
set -eu
cd "$(dirname "$0")/.."
. test/lib.sh
. test/citus.sh
CUSTOMERS=${CUSTOMERS:-2000000}
RUNS=${RUNS:-3}
AS_OF=2025-12-31

work=$(mktemp -d /tmp/crm-bench-scale.XXXXXX)
trap 'citus_stop; rm -rf "$work"' EXIT
cc -std=gnu99 -O2 -o "$work/crm_gen" test/gen/crm_gen.c -lm

SERIAL="SET max_parallel_workers_per_gather = 0; SET crm.standard_errors = off;"
PARALLEL="SET max_parallel_workers_per_gather = 2; SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; SET crm.standard_errors = off;"
DISTRIBUTED="SET citus.coordinator_aggregation_strategy = 'disabled'; SET crm.standard_errors = off;"
STAGES="summaries cutpoints scores fit predictions segments stages"

stage_sql() { # stage_sql STAGE: the statement, over orders/summaries/cut/model
	case "$1" in
	summaries) echo "INSERT INTO summaries_out SELECT customer_id, crm.summarize(ordered_at, amount) FROM orders GROUP BY 1" ;;
	cutpoints) echo "SELECT crm.rfm_quantiles(s, DATE '$AS_OF') FROM summaries" ;;
	scores) echo "SELECT count(crm.rfm_score(s, (SELECT c FROM cut))) FROM summaries" ;;
	fit) echo "SELECT crm.fit_bgnbd(s, DATE '$AS_OF', '1 week') FROM summaries" ;;
	predictions) echo "SELECT sum(crm.expected_purchases((SELECT m FROM model), 52, s, DATE '$AS_OF')) FROM summaries" ;;
	segments) echo "SELECT crm.rfm_segment(crm.rfm_score(s, (SELECT c FROM cut))), count(*) FROM summaries GROUP BY 1" ;;
	stages) echo "SELECT crm.next_stage('exploration', s, DATE '$AS_OF'), count(*) FROM summaries GROUP BY 1" ;;
	esac
}

# timed PSQL SETTINGS STAGE: "median_ms peak_kB" of RUNS runs, each in a
# new session (the summaries table emptied first)
timed() {
	local psql=$1 settings=$2 stage=$3 i t=() out ms kb peak=0
	for i in $(seq "$RUNS"); do
		[ "$stage" != summaries ] || $psql -c "TRUNCATE summaries_out" >/dev/null
		out=$($psql -c "$settings" -c '\timing on' -c "$(stage_sql "$stage")" -c '\timing off' \
			-c "SELECT 'hwm ' || substring(pg_read_file('/proc/self/status') from 'VmHWM:\s*(\d+)')")
		ms=$(printf '%s\n' "$out" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | tail -n 1)
		kb=$(printf '%s\n' "$out" | sed -n 's/^hwm //p')
		t+=("$ms")
		[ "${kb:-0}" -le "$peak" ] || peak=$kb
	done
	printf '%s %s\n' "$(printf '%s\n' "${t[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')" "$peak"
}

# prepare PSQL DIR DISTRIBUTE: orders of DIR loaded, summaries, cutpoints, a model
prepare() {
	local psql=$1 dir=$2 dist=$3
	$psql >/dev/null <<-SQL
		DROP TABLE IF EXISTS orders, summaries, summaries_out, cut, model;
		CREATE TABLE orders (customer_id int NOT NULL, ordered_at date NOT NULL, amount numeric(12,2) NOT NULL);
		CREATE TABLE summaries (customer_id int NOT NULL, s crm.summary);
		CREATE TABLE summaries_out (customer_id int NOT NULL, s crm.summary);
		$( [ "$dist" = 1 ] && echo "SELECT create_distributed_table('orders', 'customer_id');
		SELECT create_distributed_table('summaries', 'customer_id', colocate_with => 'orders');
		SELECT create_distributed_table('summaries_out', 'customer_id', colocate_with => 'orders');" )
		\copy orders FROM '$dir/orders.csv' WITH (FORMAT csv)
		INSERT INTO summaries SELECT customer_id, crm.summarize(ordered_at, amount) FROM orders GROUP BY 1;
		CREATE TABLE cut AS SELECT crm.rfm_quantiles(s, DATE '$AS_OF') AS c FROM summaries;
		CREATE TABLE model AS SELECT crm.fit_bgnbd(s, DATE '$AS_OF', '1 week') AS m FROM summaries;
		VACUUM ANALYZE orders, summaries;
	SQL
}

local_psql="psql -X -q -At -v ON_ERROR_STOP=1 -d crm_scale"
psql -X -q -c "DROP DATABASE IF EXISTS crm_scale" -c "CREATE DATABASE crm_scale"
$local_psql -c "CREATE EXTENSION crm"
citus=0
if [ -z "$(citus_missing)" ]; then
	CITUS_DB=crm_scale
	if citus_start >/dev/null 2>&1; then citus=1; else echo "# the Citus cluster did not start: no distributed column"; fi
	trap 'citus_stop; rm -rf "$work"' EXIT
else
	echo "# no distributed column: $(citus_missing)"
fi

declare -A RES
for n in $((CUSTOMERS / 10)) "$CUSTOMERS"; do
	mkdir -p "$work/$n"
	"$work/crm_gen" -n "$n" -s 20240601 -o "$work/$n" >/dev/null
	orders=$(wc -l <"$work/$n/orders.csv")
	prepare "$local_psql" "$work/$n" 0
	[ "$citus" = 0 ] || prepare "cpsql 0" "$work/$n" 1
	echo
	echo "$n customers, $orders orders"
	printf '%-12s %10s %10s %7s %10s %7s %12s\n' stage serial_ms 2w_ms ratio citus_ms ratio peak_MB
	for st in $STAGES; do
		read -r s kb < <(timed "$local_psql" "$SERIAL" "$st")
		read -r p _ < <(timed "$local_psql" "$PARALLEL" "$st")
		c=-; cr=-
		if [ "$citus" = 1 ]; then
			read -r c _ < <(timed "cpsql 0" "$DISTRIBUTED" "$st")
			cr=$(awk -v a="$c" -v b="$s" 'BEGIN { printf "%.3f", a / b }')
		fi
		printf '%-12s %10.1f %10.1f %7.3f %10s %7s %12.1f\n' "$st" "$s" "$p" \
			"$(awk -v a="$p" -v b="$s" 'BEGIN { print a / b }')" "$c" "$cr" "$(awk -v k="$kb" 'BEGIN { print k / 1024 }')"
		RES[$n.$st]=$s
	done
done
echo
echo "growth from $((CUSTOMERS / 10)) to $CUSTOMERS customers (serial time ratio; 10 is linear):"
for st in $STAGES; do
	printf '  %-12s %6.1f\n' "$st" "$(awk -v a="${RES[$CUSTOMERS.$st]}" -v b="${RES[$((CUSTOMERS / 10)).$st]}" 'BEGIN { print a / b }')"
done
