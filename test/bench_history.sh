#!/usr/bin/env bash
# test/bench_history.sh: what one order costs for a customer with a long
# history, run by `make bench` (after test/bench_tracking.sh) or on its own
# by `make bench-history`, once the extension is installed and a
# throwaway cluster is up.
#
# Three groups of CUSTOMERS customers hold 10, 1,000 and 10,000 purchase
# days (one order a day, ending the day before the business date) in a
# tracked order table, loaded by COPY and sealed as the writer leaves them.
# Then single-order INSERTs (one statement and one transaction each, as an
# application writes them) go to customers of one group at a time: ROUNDS
# rounds per group, interleaved (10, 1,000, 10,000, 10, ...), ORDERS
# orders a round, on the business date.  Each round reports pgbench's
# mean latency and the WAL it wrote (pg_current_wal_lsn() before and after,
# divided by the orders); the table prints the medians and their ratio to
# the 10-day group.  Goals (issue 17): 10,000 days at most 2x the time and
# 2x the WAL of 10 days.  Also printed: the stored size of a 10,000-day
# customer's row (pg_column_size of the summary, whether it is toasted).
#
#   CUSTOMERS  customers per group (default 20)
#   ROUNDS     rounds per group (default 5)
#   ORDERS     single-order inserts per round (default 2000)
set -eu
cd "$(dirname "$0")/.."
CUSTOMERS=${CUSTOMERS:-20}
ROUNDS=${ROUNDS:-5}
ORDERS=${ORDERS:-2000}
DB=crm_history
AS_OF=2025-12-31

. test/bench_lib.sh
bench_workdir history
new_shop_db
# group g (1, 2, 3) holds customers g*1000000 + 1 .. + CUSTOMERS with
# 10, 1,000 and 10,000 days
q <<SQL
SELECT crm.track_orders('bench.shop', 'customer_id', 'ordered_on', 'amount', unknown_customers => 'create') \gset
SET crm.as_of = '$AS_OF';
INSERT INTO bench.shop (customer_id, ordered_on, amount)
SELECT g.grp * 1000000 + c, DATE '$AS_OF' - d, round((10 + (c * 7 + d * 13) % 90)::numeric, 2)
FROM (VALUES (1, 10), (2, 1000), (3, 10000)) g(grp, ndays), generate_series(1, $CUSTOMERS) c,
     generate_series(1, g.ndays) d
ORDER BY d DESC, 1;
VACUUM ANALYZE crm.customers, bench.shop;
SQL

size=$(q -At -c "SELECT round(avg(pg_column_size(summary))) || ' bytes; row ' || round(avg(pg_column_size(c.*)))
                        || ' bytes; toasted: ' || bool_or(pg_column_size(summary) < octet_length(summary::text) / 4 AND octet_length(summary::text) > 8000)
                 FROM crm.customers c WHERE customer_id / 1000000 = 3")
toast=$(q -At -c "SELECT pg_size_pretty(pg_total_relation_size(reltoastrelid)) FROM pg_class WHERE oid = 'crm.customers'::regclass")

for g in 1 2 3; do
	cat >"$work/insert_$g.sql" <<-EOF
		\set c random($((g * 1000000 + 1)), $((g * 1000000 + CUSTOMERS)))
		INSERT INTO bench.shop (customer_id, ordered_on, amount) VALUES (:c, DATE '$AS_OF', 10.5);
	EOF
done
# round G: "latency_ms wal_bytes_per_order"
round() {
	local before after lat
	before=$(q -At -c "SELECT pg_current_wal_insert_lsn()")
	lat=$(PGOPTIONS="-c crm.as_of=$AS_OF" pgbench -n -c 1 -t "$ORDERS" -f "$work/insert_$1.sql" "$DB" 2>/dev/null |
		sed -n 's/^latency average = \([0-9.]*\) ms$/\1/p')
	after=$(q -At -c "SELECT pg_current_wal_insert_lsn()")
	printf '%s %s\n' "$lat" "$(q -At -c "SELECT round(('$after'::pg_lsn - '$before'::pg_lsn) / $ORDERS.0)")"
}
verdict() { awk -v r="$1" -v g="$2" 'BEGIN { print (r <= g) ? "met" : "MISSED" }'; }

declare -A lat wal
for g in 1 2 3; do round "$g" >/dev/null; done	# warm-up
for ((i = 0; i < ROUNDS; i++)); do
	for g in 1 2 3; do
		read -r l w < <(round "$g")
		lat[$g]+="$l "
		wal[$g]+="$w "
	done
done
echo "crm long-history bench: $CUSTOMERS customers per group, $ROUNDS rounds x $ORDERS single-order inserts (medians)"
for g in 1 2 3; do
	echo "  group $g: latency ms ${lat[$g]}; WAL bytes/order ${wal[$g]}"
done
echo "  a 10,000-day customer's summary: $size; toast table of crm.customers: $toast"
check=$(q -At -c "SET search_path = crm, public" -c "SELECT count(*) FROM crm.customers c FULL JOIN crm.table_summaries('bench.shop') r USING (customer_id)
                  WHERE crm.full_summary(c.customer_id, c.summary) IS DISTINCT FROM r.summary")
echo "  customers whose summary differs from a recompute: $check"
echo
printf '%-44s %10s %10s %10s   %s\n' "case (per single-order insert)" "10 days" "1,000" "10,000" "10,000 / 10 (goal)"
l1=$(printf '%s\n' ${lat[1]} | median) l2=$(printf '%s\n' ${lat[2]} | median) l3=$(printf '%s\n' ${lat[3]} | median)
w1=$(printf '%s\n' ${wal[1]} | median) w2=$(printf '%s\n' ${wal[2]} | median) w3=$(printf '%s\n' ${wal[3]} | median)
printf '%-44s %10.3f %10.3f %10.3f   %s (<= 2 %s)\n' "time, ms" "$l1" "$l2" "$l3" "$(ratio "$l3" "$l1" %.2f)" "$(verdict "$(ratio "$l3" "$l1" %.2f)" 2)"
printf '%-44s %10.0f %10.0f %10.0f   %s (<= 2 %s)\n' "WAL, bytes" "$w1" "$w2" "$w3" "$(ratio "$w3" "$w1" %.2f)" "$(verdict "$(ratio "$w3" "$w1" %.2f)" 2)"
psql -X -q -c "DROP DATABASE $DB"
