# test/stress.sh: crashes mid-write and a concurrent soak (issue 20),
# sourced by test/run.sh and run on its cluster.  Sizes and durations are
# short in `make test`; CRM_LONG=1 gives the issue's full sizes (1,000,000
# orders copied, a 60 s soak), or set them one by one:
#   CRM_CRASH_ORDERS   orders in the COPY that is killed (200000; long 1000000)
#   CRM_SOAK_SECONDS   soak duration (12; long 60)
#   CRM_SOAK_CLIENTS   soak clients (16)

crash_orders() { echo "${CRM_CRASH_ORDERS:-$([ "${CRM_LONG:-0}" = 1 ] && echo 1000000 || echo 200000)}"; }
soak_seconds() { echo "${CRM_SOAK_SECONDS:-$([ "${CRM_LONG:-0}" = 1 ] && echo 60 || echo 12)}"; }

# customers whose maintained summary differs from a recompute from every
# tracked table (0 expected)
RECOMPUTE_DIFFERENCES="SELECT count(*) FROM crm.customers c
	FULL JOIN (SELECT t.customer_id, crm.summarize(t.summary) AS summary
	           FROM crm.tracked_tables tt, LATERAL crm.table_summaries(tt.table_name) t GROUP BY 1) r USING (customer_id)
	WHERE crm.full_summary(c.customer_id, c.summary) IS DISTINCT FROM r.summary"

# the whole cluster killed at once, as in a crash: the postmaster and every
# process it started (kill -9 by process id), then started again (crash
# recovery)
crash_cluster() {
	local pm children
	pm=$(head -n1 "$CLUSTER_DIR/data/postmaster.pid")
	children=$(ps -o pid= --ppid "$pm" | xargs)
	kill -9 "$pm" $children 2>/dev/null
	while kill -0 "$pm" 2>/dev/null; do sleep 0.1; done
	sleep 0.5
	rm -f "$CLUSTER_DIR/data/postmaster.pid"
	as_pg pg_ctl -D "$CLUSTER_DIR/data" -l "$CLUSTER_DIR/server.log" -w start >/dev/null ||
		{ tail -n 20 "$CLUSTER_DIR/server.log" >&2; return 1; }
}

# hold_customer DB ID: a session holding customer ID's row locked (in the
# background, until the crash), so that a writer reaching that customer
# waits there, half-way: the crash then strikes mid-write, every time
hold_customer() {
	psql -X -q -d "$1" -c "BEGIN" -c "SELECT FROM crm.customers WHERE customer_id = $2 FOR UPDATE" \
		-c "SELECT pg_sleep(3600)" >/dev/null 2>&1 &
	sleep 0.5
}

# wait until a statement like $2 in database $1 waits for that lock (at
# most 120 s); false if it ended before
wait_running() {
	local i
	for i in $(seq 1 1200); do
		[ "$(psql -X -At -d "$1" -c "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE '$2%'
			AND wait_event_type = 'Lock'")" = 1 ] && return 0
		sleep 0.1
	done
	return 1
}

# kill -9 during a tracked COPY of orders, during crm.refresh() and during
# the backfill of crm.track_orders(): after restart the committed orders
# are there, the uncommitted are not, every customer equals a recompute,
# and the work can be done again
crash_check() {
	local db=crm_crash dir=$CLUSTER_DIR/crash n out pid ok=0
	n=$(crash_orders)
	mkdir -p "$dir"
	[ "$(id -u)" != 0 ] || chown postgres: "$dir"
	new_crm_db $db -c "INSERT INTO crm.customers (customer_id) SELECT g FROM generate_series(1, 5000) g" \
		-c "CREATE TABLE public.shop (id bigint PRIMARY KEY, buyer bigint, day date, total numeric)" \
		-c "SELECT crm.track_orders('public.shop', 'buyer', 'day', 'total')" \
		-c "SET crm.as_of = '2025-12-31'" \
		-c "INSERT INTO public.shop SELECT g, 1 + g % 5000, DATE '2025-01-01' + g % 300, 1 + g % 97 FROM generate_series(1, 20000) g" \
		-c "INSERT INTO crm.orders (customer_id, ordered_on, amount) SELECT 1 + g % 5000, DATE '2025-02-01' + g % 200, 5 FROM generate_series(1, 10000) g" ||
		return 1
	psql -X -At -d $db -c "COPY (SELECT 100000 + g, 1 + (g * 7) % 5000, DATE '2025-03-01' + g % 250, 2 + g % 50 FROM generate_series(1, $n) g) TO '$dir/orders.csv' (FORMAT csv)" >/dev/null || return 1
	chmod 644 "$dir/orders.csv"

	# 1. COPY into the tracked table, killed half-way through its customers
	hold_customer $db 4000
	psql -X -q -d $db -c "SET synchronous_commit = on" -c "COPY public.shop FROM '$dir/orders.csv' (FORMAT csv)" >"$dir/copy.out" 2>&1 &
	pid=$!
	wait_running $db "COPY public.shop" || { say "# the COPY ended before it could be killed (set CRM_CRASH_ORDERS higher)"; wait $pid; sed "s/^/# /" "$dir/copy.out"; return 1; }
	crash_cluster || return 1
	wait 2>/dev/null
	out=$(psql -X -At -d $db -c "SELECT (SELECT count(*) FROM public.shop) || ' ' || (SELECT count(*) FROM crm.orders) || ' ' || ($RECOMPUTE_DIFFERENCES)")
	say "# COPY of $n orders killed: shop and crm.orders hold $out (rows rows differences), 20000 10000 0 expected"
	[ "$out" = "20000 10000 0" ] && ok=$((ok + 1))
	psql_q -d $db -c "SET crm.as_of = '2025-12-31'" -c "COPY public.shop FROM '$dir/orders.csv' (FORMAT csv)" &&
		out=$(psql -X -At -d $db -c "SELECT (SELECT count(*) FROM public.shop) || ' ' || ($RECOMPUTE_DIFFERENCES)") &&
		say "# the COPY again after restart: $out" && [ "$out" = "$((20000 + n)) 0" ] && ok=$((ok + 1))

	# 2. crm.refresh(), batches committed, killed half-way; then again
	hold_customer $db 2500
	psql -X -q -d $db -c "CALL crm.refresh(as_of => '2025-12-31', batch_size => 50)" >"$dir/refresh.out" 2>&1 &
	pid=$!
	wait_running $db "CALL crm.refresh" || { say "# the refresh ended before it could be killed"; wait $pid; return 1; }
	crash_cluster || return 1
	wait 2>/dev/null
	out=$(psql -X -At -d $db -c "SELECT ($RECOMPUTE_DIFFERENCES) || ' ' || (SELECT count(*) FROM crm.customers WHERE scored_on = '2025-12-31')")
	say "# crm.refresh() killed: differences, customers scored: $out"
	case "$out" in "0 "*) ok=$((ok + 1)) ;; esac
	psql_q -d $db -c "CALL crm.refresh(as_of => '2025-12-31')" &&
		out=$(psql -X -At -d $db -c "SELECT ($RECOMPUTE_DIFFERENCES) || ' ' || (SELECT count(*) FROM crm.customers WHERE scored_on = '2025-12-31')") &&
		say "# crm.refresh() again after restart: $out" && [ "$out" = "0 5000" ] && ok=$((ok + 1))

	# 3. attaching a table whose backfill is killed: nothing of it stays
	psql_q -d $db -c "CREATE TABLE public.legacy (id bigint, cust bigint, at date, total numeric)" \
		-c "INSERT INTO public.legacy SELECT g, 1 + g % 6000, DATE '2024-01-01' + g % 700, 3 FROM generate_series(1, $n) g" || return 1
	hold_customer $db 3000
	psql -X -q -d $db -c "SET crm.as_of = '2025-12-31'" -c "SELECT crm.track_orders('public.legacy', 'cust', 'at', 'total')" >"$dir/attach.out" 2>&1 &
	pid=$!
	wait_running $db "SELECT crm.track_orders(%legacy" || { say "# the backfill ended before it could be killed"; wait $pid; return 1; }
	crash_cluster || return 1
	wait 2>/dev/null
	out=$(psql -X -At -d $db -c "SELECT (SELECT count(*) FROM crm.tracked_tables WHERE table_name = 'public.legacy'::regclass)
		|| ' ' || (SELECT count(*) FROM pg_trigger WHERE tgrelid = 'public.legacy'::regclass) || ' ' || (SELECT count(*) FROM crm.customers)
		|| ' ' || ($RECOMPUTE_DIFFERENCES)")
	say "# attach backfill killed: tracked, triggers, customers, differences: $out (0 0 5000 0 expected)"
	[ "$out" = "0 0 5000 0" ] && ok=$((ok + 1))
	psql_q -d $db -c "SET crm.as_of = '2025-12-31'" -c "SELECT crm.track_orders('public.legacy', 'cust', 'at', 'total')" >/dev/null &&
		out=$(psql -X -At -d $db -c "SELECT (SELECT count(*) FROM crm.customers) || ' ' || ($RECOMPUTE_DIFFERENCES)") &&
		say "# the attach again after restart: customers, differences: $out" && [ "$out" = "6000 0" ] && ok=$((ok + 1))
	say "# crash cases: $ok of 6 outcomes as expected"
	[ $ok = 6 ]
}

# 16 clients (pgbench, custom scripts) write orders, complaints,
# interactions and manual stage changes for overlapping customers while
# crm.refresh() runs again and again: no deadlock, no error, no history
# row lost, and every customer equals a recompute at the end
soak_check() {
	local db=crm_soak dir=$CLUSTER_DIR/soak secs clients out tx rc=0 pid refreshes
	secs=$(soak_seconds)
	clients=${CRM_SOAK_CLIENTS:-16}
	mkdir -p "$dir"
	command -v pgbench >/dev/null || { SKIP_REASON="pgbench is not installed"; return 77; }
	new_crm_db $db -c "INSERT INTO crm.customers (customer_id) SELECT g FROM generate_series(1, 2000) g" \
		-c "CREATE TABLE public.soak_log (kind text, customer_id bigint, to_stage crm.stage)" \
		-c "GRANT ALL ON public.soak_log TO PUBLIC" || return 1
	# customers drawn from 200 hot ones and 2,000 in all: writers overlap
	cat >"$dir/order.sql" <<-'SQL'
		\set c random(1, 200)
		\set d random(0, 360)
		SET crm.as_of = '2025-12-31';
		INSERT INTO crm.orders (customer_id, ordered_on, amount) VALUES (:c, DATE '2025-01-01' + :d, 10), (:c + 1000, DATE '2025-01-01' + :d, 5);
	SQL
	cat >"$dir/complaint.sql" <<-'SQL'
		\set c random(1, 2000)
		INSERT INTO crm.complaints (customer_id, category) VALUES (:c, 'billing');
	SQL
	cat >"$dir/interaction.sql" <<-'SQL'
		\set c random(1, 2000)
		INSERT INTO crm.interactions (customer_id, channel, direction) VALUES (:c, 'phone', 'inbound');
	SQL
	# a manual stage change, logged beside in the same transaction: every
	# change that committed must have its row in crm.stage_history
	cat >"$dir/stage.sql" <<-'SQL'
		\set c random(1, 200)
		BEGIN;
		WITH s AS (SELECT customer_id, stage FROM crm.customers WHERE customer_id = :c AND stage IN ('prospect', 'exploration') FOR UPDATE),
		u AS (UPDATE crm.customers c SET stage = CASE s.stage WHEN 'prospect' THEN 'exploration'::crm.stage ELSE 'formation'::crm.stage END,
		                               stage_reason = 'soak'
		      FROM s WHERE c.customer_id = s.customer_id RETURNING c.customer_id, c.stage)
		INSERT INTO public.soak_log SELECT 'stage', customer_id, stage FROM u;
		COMMIT;
	SQL
	(
		end=$((SECONDS + secs))
		refreshes=0
		while [ $SECONDS -lt $end ]; do
			psql -X -q -v ON_ERROR_STOP=1 -d $db -c "CALL crm.refresh(as_of => '2025-12-31', batch_size => 200)" || exit 1
			refreshes=$((refreshes + 1))
		done
		echo "$refreshes" >"$dir/refreshes"
	) >"$dir/refresh.out" 2>&1 &
	pid=$!
	pgbench -n -d $db -c "$clients" -j 4 -T "$secs" -f "$dir/order.sql@4" -f "$dir/complaint.sql@1" \
		-f "$dir/interaction.sql@2" -f "$dir/stage.sql@2" >"$dir/pgbench.out" 2>&1 || rc=1
	wait $pid || rc=1
	grep -E '^(number of transactions actually processed|number of failed|tps = )' "$dir/pgbench.out" | sed 's/^/# /'
	grep -iE 'deadlock|ERROR' "$dir/pgbench.out" "$dir/refresh.out" | head -5 | sed 's/^/# /'
	[ $rc = 0 ] || return 1
	tx=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$dir/pgbench.out")
	out=$(psql -X -At -d $db -c "SELECT ($RECOMPUTE_DIFFERENCES)
		|| ' ' || (SELECT count(*) FROM public.soak_log l WHERE NOT EXISTS (SELECT FROM crm.stage_history h
		           WHERE h.customer_id = l.customer_id AND h.to_stage = l.to_stage AND h.source = 'user'))
		|| ' ' || (SELECT count(*) FROM public.soak_log)")
	say "# soak: $clients clients for ${secs}s: $tx transactions ($((tx / secs)) ops/s) with $(cat "$dir/refreshes" 2>/dev/null) refreshes; differences from a recompute, manual stage changes without their history row, manual stage changes: $out"
	case "$out" in "0 0 "*) ;; *) return 1 ;; esac
	[ "${out##* }" -gt 0 ] && [ "${tx:-0}" -gt 0 ]
}
