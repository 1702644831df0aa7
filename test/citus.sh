# test/citus.sh: the distributed tests, sourced by test/run.sh.
#
# When Citus is installed (citus.so in the pkglibdir of $PG_BINDIR's
# pg_config), a coordinator and two workers are started on loopback
# (127.0.0.1, free ports, shared_preload_libraries = 'citus'; stopped on
# exit, also on failure), the CDNOW sample is loaded twice on the
# coordinator: as a local table (the single-node answer) and distributed
# by customer, and every global aggregate runs over the distributed table
# with the coordinator's row gather disabled
# (citus.coordinator_aggregation_strategy = 'disabled'), so that it must
# split into worker partials and a coordinator combine, and must give the
# single-node answer exactly.  Then the CRM tables themselves are
# distributed (crm.distribute) and orders written through the coordinator,
# at random and concurrently, must leave every customer's summary on the
# shards equal to a recompute and to the single node's; DROP EXTENSION
# must leave nothing on any node.  When Citus is not installed, the checks are
# skipped with the reason.  Citus is not in Debian: see README.md,
# "Scaling out".

CITUS_DIR=
CITUS_PORTS=()
CITUS_DB=crm_citus
CITUS_AS_OF=1997-09-30

# why the distributed tests cannot run here, or nothing
citus_missing() {
	local lib
	lib=$("$PG_BINDIR/pg_config" --pkglibdir)
	[ -f "$lib/citus.so" ] || { echo "Citus is not installed (no citus.so in $lib)"; return; }
	[ -f "$("$PG_BINDIR/pg_config" --sharedir)/extension/citus.control" ] || echo "Citus is not installed (no citus.control)"
}

# a TCP port on 127.0.0.1 nobody listens on, from $1 up
citus_free_port() {
	local p=$1
	while (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; do p=$((p + 1)); done
	echo "$p"
}

# cpsql N [psql arguments]: psql on node N (0 the coordinator) in the test database
cpsql() {
	local n=$1
	shift
	psql -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "${CITUS_PORTS[$n]}" -U postgres -d "$CITUS_DB" "$@"
}

citus_stop() {
	local n
	[ -n "$CITUS_DIR" ] || return 0
	for n in 0 1 2; do
		as_pg pg_ctl -D "$CITUS_DIR/node$n" -m immediate -w stop >/dev/null 2>&1 || true
	done
	rm -rf "$CITUS_DIR"
	CITUS_DIR=
}

# the three nodes, the cluster formed, crm created on the coordinator (and
# so on the workers), the CDNOW sample loaded: local and distributed
citus_start() {
	local n port=$((40000 + $$ % 10000)) kv
	SKIP_REASON=$(citus_missing)
	[ -z "$SKIP_REASON" ] || return 77
	CITUS_DIR=$(mktemp -d /tmp/crm-citus.XXXXXX)
	trap 'citus_stop; cluster_stop' EXIT
	chmod 755 "$CITUS_DIR"
	[ "$(id -u)" = 0 ] && chown postgres: "$CITUS_DIR"
	for n in 0 1 2; do
		port=$(citus_free_port "$port")
		CITUS_PORTS[$n]=$port
		port=$((port + 1))
		as_pg initdb -D "$CITUS_DIR/node$n" -U postgres --auth=trust --no-sync -E UTF8 --locale=C \
			>"$CITUS_DIR/initdb$n.log" 2>&1 || { cat "$CITUS_DIR/initdb$n.log" >&2; return 1; }
		for kv in "listen_addresses='127.0.0.1'" "unix_socket_directories='$CITUS_DIR'" "port=${CITUS_PORTS[$n]}" \
			"shared_preload_libraries='citus'" "fsync=off" "synchronous_commit=off" "full_page_writes=off" \
			"max_connections=60" "citus.shard_count=8" "citus.log_remote_commands=off"; do
			printf '%s\n' "$kv" >>"$CITUS_DIR/node$n/postgresql.conf"
		done
		as_pg pg_ctl -D "$CITUS_DIR/node$n" -l "$CITUS_DIR/node$n.log" -w start >/dev/null ||
			{ cat "$CITUS_DIR/node$n.log" >&2; return 1; }
		psql -X -q -h 127.0.0.1 -p "${CITUS_PORTS[$n]}" -U postgres -d postgres -c "CREATE DATABASE $CITUS_DB" &&
			cpsql $n -c "CREATE EXTENSION citus" >/dev/null || return 1
	done
	cpsql 0 -c "SELECT citus_set_coordinator_host('127.0.0.1', ${CITUS_PORTS[0]})" \
		-c "SELECT citus_add_node('127.0.0.1', ${CITUS_PORTS[1]})" \
		-c "SELECT citus_add_node('127.0.0.1', ${CITUS_PORTS[2]})" \
		-c "CREATE EXTENSION crm" >/dev/null || return 1
	cpsql 0 -v ON_ERROR_STOP=1 >/dev/null <<-'SQL'
		-- the CDNOW sample as the pgTAP tests read it (table cdnow)
		\i test/pgtap/cdnow.psql
		ALTER TABLE cdnow RENAME TO cdnow_local;
		CREATE TABLE summaries_local AS
		SELECT customer_id, crm.summarize(purchased_at, amount) AS s FROM cdnow_local GROUP BY 1;
		CREATE TABLE orders (customer_id int NOT NULL, purchased_at date NOT NULL, amount numeric NOT NULL);
		SELECT create_distributed_table('orders', 'customer_id');
		INSERT INTO orders SELECT * FROM cdnow_local;
		CREATE TABLE summaries (customer_id int NOT NULL, s crm.summary);
		SELECT create_distributed_table('summaries', 'customer_id', colocate_with => 'orders');
		-- co-located INSERT ... SELECT: each worker summarizes its own shards
		INSERT INTO summaries SELECT customer_id, crm.summarize(purchased_at, amount) FROM orders GROUP BY 1;
	SQL
}

citus_started() {
	[ -n "$CITUS_DIR" ] && return 0
	SKIP_REASON=${SKIP_REASON:-$(citus_missing)}
	SKIP_REASON=${SKIP_REASON:-the Citus cluster did not start}
	return 77
}

# same QUERY: the query over the distributed summaries (row gather
# disabled) and over the local ones give the same rows; {T} stands for the
# table.  The first differing lines are printed.
citus_same() {
	local d l
	citus_started || return 77
	d=$(cpsql 0 -c "SET citus.coordinator_aggregation_strategy = 'disabled'" -c "${1//\{T\}/summaries}") || return 1
	l=$(cpsql 0 -c "${1//\{T\}/summaries_local}") || return 1
	[ -n "$l" ] || { echo "# the single-node query returned nothing"; return 1; }
	[ "$d" = "$l" ] && return 0
	diff <(printf '%s\n' "$l") <(printf '%s\n' "$d") | head -n 6 | cut -c1-200 | sed 's/^/# /'
	return 1
}

citus_summaries() {
	citus_same "SELECT customer_id, s FROM {T} ORDER BY 1"
}

citus_merge() {
	citus_same "SELECT crm.summarize(s) FROM {T}"
}

citus_cutpoints() {
	citus_same "SELECT crm.rfm_quantiles(s, DATE '$CITUS_AS_OF') FROM {T}" &&
		citus_same "SELECT crm.rfm_quantiles(s, DATE '$CITUS_AS_OF', 7) FROM {T}"
}

# the cutpoints of the single node, as a literal
citus_cut() {
	cpsql 0 -c "SELECT quote_literal(crm.rfm_quantiles(s, DATE '$CITUS_AS_OF')) || '::crm.rfm_cutpoints' FROM summaries_local"
}

citus_scores() {
	local c
	citus_started || return 77
	c=$(citus_cut) || return 1
	citus_same "SELECT customer_id, crm.rfm_score(s, $c) FROM {T} ORDER BY 1"
}

citus_segments() {
	local c
	citus_started || return 77
	c=$(citus_cut) || return 1
	citus_same "SELECT crm.rfm_segment(crm.rfm_score(s, $c)) AS segment, count(*), sum(crm.total_spend(s))
	            FROM {T} GROUP BY 1 ORDER BY 1"
}

# the fitted models compared in their binary form: bit for bit
citus_fits() {
	citus_same "SELECT crm.btyd_model_send(crm.fit_bgnbd(s, DATE '$CITUS_AS_OF', '1 week')),
	                   crm.btyd_model_send(crm.fit_pareto_nbd(s, DATE '$CITUS_AS_OF', '1 week')),
	                   crm.btyd_model_send(crm.fit_mbgnbd(s, DATE '$CITUS_AS_OF', '1 week')),
	                   crm.btyd_model_send(crm.fit_bgbb(s, DATE '$CITUS_AS_OF', '1 week'))
	            FROM {T}"
}

# crm.kpis's aggregate: its final function finds its result type without
# the call's expression, which the coordinator's combine does not give
citus_monthly_activity() {
	citus_same "SELECT crm.monthly_activity(s) FROM {T}"
}

citus_gamma_gamma() {
	citus_same "SELECT crm.btyd_model_send(crm.fit_gamma_gamma(s, DATE '$CITUS_AS_OF')) FROM {T}"
}

citus_validation() {
	local m q d l
	citus_started || return 77
	m=$(cpsql 0 -c "SELECT quote_literal(crm.fit_bgnbd(crm.as_of(s, DATE '1997-06-30'), DATE '1997-06-30', '1 week'))
	                FROM summaries_local") || return 1
	q="SELECT quote_literal(crm.validate($m::crm.btyd_model, s, DATE '1997-06-30', DATE '$CITUS_AS_OF')) FROM"
	d=$(cpsql 0 -c "SET citus.coordinator_aggregation_strategy = 'disabled'" -c "$q summaries") &&
		l=$(cpsql 0 -c "$q summaries_local") || return 1
	# the report's sums of per-customer expectations are floating point,
	# summed in the order the rows arrive: equal to 1e-12 relative; every
	# count, date and string exactly
	[ "$(cpsql 0 -c "WITH d AS (SELECT v, row_number() OVER () AS n FROM jsonb_path_query($d::jsonb, 'lax \$.**') v
	                            WHERE jsonb_typeof(v) NOT IN ('object', 'array')),
	                      l AS (SELECT v, row_number() OVER () AS n FROM jsonb_path_query($l::jsonb, 'lax \$.**') v
	                            WHERE jsonb_typeof(v) NOT IN ('object', 'array'))
	                 SELECT count(*) FILTER (WHERE d.v IS NULL OR l.v IS NULL OR NOT CASE WHEN jsonb_typeof(l.v) = 'number'
	                            THEN abs(d.v::text::float8 - l.v::text::float8) <= 1e-12 * abs(l.v::text::float8)
	                            ELSE d.v = l.v END) || ' of ' || count(*)
	                 FROM d FULL JOIN l USING (n)")" = "0 of $(cpsql 0 -c "SELECT count(*) FROM jsonb_path_query($l::jsonb, 'lax \$.**') v
	                 WHERE jsonb_typeof(v) NOT IN ('object', 'array')")" ]
}

# the plan: partial states computed on the workers, combined on the coordinator
citus_explain() {
	local plan
	citus_started || return 77
	plan=$(cpsql 0 -c "SET citus.coordinator_aggregation_strategy = 'disabled'" \
		-c "EXPLAIN (VERBOSE, COSTS OFF) SELECT crm.rfm_quantiles(s, DATE '$CITUS_AS_OF'), crm.fit_bgnbd(s, DATE '$CITUS_AS_OF', '1 week') FROM summaries") ||
		return 1
	printf '%s\n' "$plan" | grep -q 'coord_combine_agg' &&
		printf '%s\n' "$plan" | grep -q 'worker_partial_agg' &&
		printf '%s\n' "$plan" | grep -q 'Task Count: 8' ||
		{ printf '%s\n' "$plan" | head -n 20 | sed 's/^/# /'; return 1; }
}

# ---------------------------------------------------------------------
# The CRM tables themselves distributed (crm.distribute): the CDNOW
# customers and orders in crm.customers and crm.orders, distributed on the
# cluster (database crm_citus) and, as the single-node reference, in a
# database of the coordinator without Citus (crm_single), where the C
# triggers keep the summaries.
CITUS_SINGLE=crm_single
CITUS_CRM_AS_OF=1998-06-30

# spsql [psql arguments]: psql in the single-node database
spsql() {
	psql -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "${CITUS_PORTS[0]}" -U postgres -d "$CITUS_SINGLE" "$@"
}

# customers whose maintained summary differs from a recompute from their
# orders: run on the cluster it is pushed down whole (co-located join),
# each shard of crm.customers compared with its shard of crm.orders
CITUS_RECOMPUTE="SELECT count(*) FROM crm.customers c
	FULL JOIN (SELECT customer_id, crm.summarize(ordered_on, amount::numeric) AS summary FROM crm.orders GROUP BY 1) r
	USING (customer_id)
	WHERE c.summary IS DISTINCT FROM r.summary"

CITUS_SHARD_TRIGGERS="SELECT count(*) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
	WHERE t.tgname LIKE 'crm\_shard\_insert%' AND c.relname ~ '^orders_[0-9]+\$' AND c.relnamespace = 'crm'::regnamespace"

citus_distribute() {
	local tables
	citus_started || return 77
	psql -X -q -h 127.0.0.1 -p "${CITUS_PORTS[0]}" -U postgres -d postgres -c "CREATE DATABASE $CITUS_SINGLE" || return 1
	spsql >/dev/null <<-'SQL' || return 1
		CREATE EXTENSION crm;
		\i test/pgtap/cdnow.psql
		INSERT INTO crm.customers (customer_id) SELECT DISTINCT customer_id FROM cdnow;
		INSERT INTO crm.orders (customer_id, ordered_on, amount) SELECT customer_id, purchased_at, amount FROM cdnow;
	SQL
	cpsql 0 -c "SET client_min_messages = warning" \
		-c "INSERT INTO crm.customers (customer_id) SELECT DISTINCT customer_id FROM cdnow_local" \
		-c "INSERT INTO crm.orders (customer_id, ordered_on, amount) SELECT customer_id, purchased_at, amount FROM cdnow_local" \
		-c "SELECT crm.distribute(8)" >/dev/null || return 1
	# 7 co-located tables by customer_id, 3 reference tables, and the
	# trigger on every shard of crm.orders (8 shards, on the workers)
	tables=$(cpsql 0 -c "SELECT string_agg(logicalrelid::text || ':' || partmethod::text, ' ' ORDER BY logicalrelid::text)
	                     FROM pg_dist_partition WHERE logicalrelid::text LIKE 'crm.%'
	                       AND (partmethod = 'n' OR colocationid = (SELECT colocationid FROM pg_dist_partition
	                                                                WHERE logicalrelid = 'crm.customers'::regclass))") || return 1
	[ "$tables" = "crm.churn_reasons:n crm.complaint_categories:n crm.complaints:h crm.customer_segments:h crm.customers:h crm.interactions:h crm.level_targets:n crm.orders:h crm.stage_history:h crm.summary_blocks:h" ] ||
		{ echo "# distributed: $tables"; return 1; }
	# (Citus names a shard's trigger after the shard: crm_shard_insert_102008)
	[ "$(($(cpsql 1 -c "SET citus.override_table_visibility = off" -c "$CITUS_SHARD_TRIGGERS") +
	      $(cpsql 2 -c "SET citus.override_table_visibility = off" -c "$CITUS_SHARD_TRIGGERS")))" = 8 ] ||
		{ echo "# the shards of crm.orders do not all have the trigger"; return 1; }
	[ "$(cpsql 0 -c "$CITUS_RECOMPUTE")" = 0 ] && [ "$(spsql -c "SELECT count(*) FROM crm.customers WHERE summary IS NOT NULL")" = 2357 ]
}

# the stage funnel: every customer's stage walked from its maintained
# summary (as a refresh at every month end would), customers and spend per
# stage; on the cluster the walk runs on the workers (a set-returning
# function in the select list: Citus pushes down only immutable ones in
# FROM)
CITUS_FUNNEL="SELECT coalesce(w.stage, 'prospect'), count(*), sum(crm.total_spend(c.summary))
	FROM crm.customers c
	LEFT JOIN (SELECT m.customer_id, (array_agg(m.to_stage ORDER BY m.day DESC))[1] AS stage
	           FROM (SELECT customer_id, (crm.walk_stages('prospect', summary, DATE '$CITUS_CRM_AS_OF')).* FROM crm.customers) m
	           GROUP BY 1) w USING (customer_id)
	GROUP BY 1 ORDER BY 1"

citus_funnel() {
	local d l
	citus_started || return 77
	d=$(cpsql 0 -c "SET citus.coordinator_aggregation_strategy = 'disabled'" -c "$CITUS_FUNNEL") &&
		l=$(spsql -c "$CITUS_FUNNEL") || return 1
	say "# stage funnel of CDNOW as of $CITUS_CRM_AS_OF (stage|customers|spend): $(printf '%s\n' "$l" | paste -sd' ' -)"
	[ "$(printf '%s\n' "$l" | wc -l)" -ge 3 ] && [ "$d" = "$l" ] ||
		{ diff <(printf '%s\n' "$l") <(printf '%s\n' "$d") | head -n 6 | sed 's/^/# /'; return 1; }
}

# citus_ops N SEED: N random writes of orders, one statement each (single
# rows and several, one customer and several, INSERT ... SELECT), as SQL
citus_ops() {
	local i r c d RANDOM=$2
	for ((i = 0; i < $1; i++)); do
		r=$((RANDOM % 12)) c=$((RANDOM % 2357 + 1)) d=$((RANDOM % 545))
		case $r in
		0|1|2) echo "INSERT INTO crm.orders (customer_id, ordered_on, amount) VALUES ($c, DATE '1997-01-01' + $d, $((RANDOM % 20000)).$((RANDOM % 100)));" ;;
		3) echo "INSERT INTO crm.orders (customer_id, ordered_on, amount) VALUES ($c, DATE '1997-01-01' + $d, -$((RANDOM % 500)).5), ($((RANDOM % 2357 + 1)), DATE '1997-01-01' + $((RANDOM % 545)), $((RANDOM % 900)).25), ($((RANDOM % 2357 + 1)), DATE '1997-01-01' + $((RANDOM % 545)), 7);" ;;
		4|5) echo "UPDATE crm.orders SET amount = amount + $((RANDOM % 50)).75 WHERE customer_id = $c;" ;;
		6) echo "UPDATE crm.orders SET ordered_on = ordered_on + $((RANDOM % 90 - 45)) WHERE customer_id IN ($c, $((RANDOM % 2357 + 1))) AND amount > $((RANDOM % 60));" ;;
		7|8) echo "DELETE FROM crm.orders WHERE customer_id = $c AND ordered_on >= DATE '1997-01-01' + $d;" ;;
		9) echo "DELETE FROM crm.orders WHERE customer_id IN ($c, $((RANDOM % 2357 + 1)), $((RANDOM % 2357 + 1))) AND amount < $((RANDOM % 40));" ;;
		10) echo "INSERT INTO crm.orders (customer_id, ordered_on, amount) SELECT customer_id, ordered_on + 7, amount / 2 FROM crm.orders WHERE customer_id BETWEEN $c AND $((c + 3));" ;;
		11) echo "UPDATE crm.orders SET amount = 0 WHERE customer_id BETWEEN $c AND $((c + 20)) AND ordered_on = DATE '1997-01-01' + $d;" ;;
		esac
	done
}

# 1,000 random writes through the coordinator, the same on the single node:
# every customer's summary on the shards equals a recompute, and equals
# the single node's (which its C triggers kept)
citus_random_ops() {
	local f d l i
	citus_started || return 77
	f="$CITUS_DIR/ops.sql"
	citus_ops 1000 16 >"$f"
	# and one COPY of 200 orders (Citus copies into the shards; the trigger
	# fires on each)
	{
		echo "COPY crm.orders (customer_id, ordered_on, amount) FROM STDIN;"
		for ((i = 0; i < 200; i++)); do printf '%s\t1998-0%s-1%s\t%s.5\n' $((i * 11 % 2357 + 1)) $((i % 6 + 1)) $((i % 10)) $((i % 37)); done
		echo '\.'
	} >>"$f"
	cpsql 0 -f "$f" >/dev/null && spsql -f "$f" >/dev/null || return 1
	d=$(cpsql 0 -c "$CITUS_RECOMPUTE") || return 1
	[ "$d" = 0 ] || { echo "# $d customers on the shards differ from a recompute"; return 1; }
	d=$(cpsql 0 -c "SELECT customer_id, summary FROM crm.customers ORDER BY 1") &&
		l=$(spsql -c "SELECT customer_id, crm.full_summary(customer_id, summary) FROM crm.customers ORDER BY 1") || return 1
	[ "$(printf '%s\n' "$l" | wc -l)" = 2357 ] && [ "$d" = "$l" ] ||
		{ diff <(printf '%s\n' "$l") <(printf '%s\n' "$d") | head -n 6 | cut -c1-200 | sed 's/^/# /'; return 1; }
	# an order of a customer that does not exist: refused, nothing written
	d=$(cpsql 0 -c "INSERT INTO crm.orders (customer_id, ordered_on, amount) VALUES (1, '1998-01-01', 1), (999999, '1998-01-01', 1)" 2>&1) &&
		{ echo "# an order of an unknown customer was taken"; return 1; }
	printf '%s\n' "$d" | grep -q 'customer 999999 does not exist' || { echo "# $d"; return 1; }
	[ "$(cpsql 0 -c "SELECT count(*) FROM crm.orders WHERE ordered_on = '1998-01-01' AND amount = 1")" = "$(spsql -c "SELECT count(*) FROM crm.orders WHERE ordered_on = '1998-01-01' AND amount = 1")" ] ||
		{ echo "# the refused statement wrote orders"; return 1; }
	# a writer (a login role in crm_writer, as applications connect) writes
	# orders; the trigger, SECURITY DEFINER, writes the customers' shard
	cpsql 0 -c "CREATE ROLE crm_citus_app LOGIN IN ROLE crm_writer" >/dev/null &&
		psql -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "${CITUS_PORTS[0]}" -U crm_citus_app -d "$CITUS_DB" \
			-c "INSERT INTO crm.orders (customer_id, ordered_on, amount) VALUES (17, '1998-02-02', 12.5), (1700, '1998-02-03', 3)" \
			-c "UPDATE crm.orders SET amount = amount + 1 WHERE customer_id = 17" || return 1
	spsql -c "INSERT INTO crm.orders (customer_id, ordered_on, amount) VALUES (17, '1998-02-02', 12.5), (1700, '1998-02-03', 3)" \
		-c "UPDATE crm.orders SET amount = amount + 1 WHERE customer_id = 17" >/dev/null || return 1
	[ "$(cpsql 0 -c "$CITUS_RECOMPUTE")" = 0 ] || { echo "# the writer's orders left customers behind"; return 1; }
	# and each customer rescored on its shard as the single node's order
	# trigger rescores it: scores, segment, stage, level and their history
	citus_same_state
}

# every customer's maintained state and stage history, and the population
# state, on the cluster and on the single node (a history row of the
# business date is timed by the clock: its time is left out)
CITUS_STATE="SELECT customer_id, rfm, segment, stage, stage_reason, stage_since, scored_on, level, level_reason, level_since
	FROM crm.customers ORDER BY 1"
CITUS_HISTORY="SELECT customer_id, from_stage, to_stage, from_level, to_level,
	       CASE WHEN changed_at < current_date THEN changed_at::text ELSE 'today' END, source, reason
	FROM crm.stage_history ORDER BY customer_id, history_id"
CITUS_SCORING="SELECT cutpoints, model FROM crm.scoring"

citus_same_state() {
	local q d l
	for q in "$CITUS_STATE" "$CITUS_HISTORY" "$CITUS_SCORING"; do
		d=$(cpsql 0 -c "$q") && l=$(spsql -c "$q") || return 1
		[ "$d" = "$l" ] && continue
		diff <(printf '%s\n' "$l") <(printf '%s\n' "$d") | head -n 6 | cut -c1-200 | sed 's/^/# /'
		return 1
	done
}

# CALL crm.refresh() on the distributed CRM (the cutpoints and model split
# on the coordinator, every shard rescored on its node) gives every
# customer the single node's refresh: RFM, segment, stage, level and the
# stage history rows; with interactions in a later level window, and as of
# that date, levels and stages move on both
citus_refresh() {
	local ins out
	citus_started || return 77
	# 400 new customers ordering in the last 400 days (written through the
	# coordinator: each rescored on its shard, with its stage moves), and
	# interactions in the level window of 120 days ahead
	ins="INSERT INTO crm.customers (customer_id) SELECT generate_series(3001, 3400);
	     INSERT INTO crm.orders (customer_id, ordered_on, amount)
	     SELECT c, current_date - (c * 37 + k * 53) % 400, 10 + (c * k) % 90
	     FROM generate_series(3001, 3400) c, generate_series(1, 1 + c % 6) k;
	     INSERT INTO crm.interactions (customer_id, occurred_at, channel, direction)
	     SELECT c, current_date + 30 + c % 50, (ARRAY['email', 'phone', 'web'])[1 + c % 3], 'inbound'
	     FROM generate_series(3001, 3400, 3) c, generate_series(1, 1 + c % 5) k"
	cpsql 0 -c "$ins" >/dev/null && spsql -c "$ins" >/dev/null || return 1
	citus_same_state || return 1
	out=$(cpsql 0 -c "CALL crm.refresh()" 2>&1) && spsql -c "CALL crm.refresh()" >/dev/null 2>&1 || { printf '# %s\n' "$out" | head -n 3; return 1; }
	citus_same_state || return 1
	out=$(cpsql 0 -c "CALL crm.refresh(as_of => current_date + 120)" 2>&1) &&
		spsql -c "CALL crm.refresh(as_of => current_date + 120)" >/dev/null 2>&1 || { printf '# %s\n' "$out" | head -n 3; return 1; }
	say "# $(printf '%s\n' "$out" | grep -o 'succeeded.*')"
	# the level moves (the interactions) and stage moves happened
	[ "$(spsql -c "SELECT count(*) FILTER (WHERE from_level <> to_level) > 50 AND count(*) FILTER (WHERE source = 'inference' AND customer_id > 3000) > 200
	               FROM crm.stage_history")" = t ] || { echo "# the refresh moved too little to tell"; return 1; }
	citus_same_state || return 1
	# as one transaction it cannot run there: each shard commits on its node
	out=$(cpsql 0 -c "CALL crm.refresh(commit_batches => false)" 2>&1) && { echo "# one-transaction refresh taken"; return 1; }
	printf '%s\n' "$out" | grep -q 'cannot run as one transaction on a distributed CRM' || { echo "# $out"; return 1; }
}

# the service tables and manual changes on the distributed CRM, the same
# statements on the single node: interactions and complaints written
# through the coordinator rescore their customers on the shards (levels
# and stages move, with their history), repeat complaints and unsatisfied
# follow-ups escalate, a manual stage and level change is recorded in
# the stage history; everything equals the single node.  An override
# (crm.override_stage) cannot reach the shards: refused, nothing changed.
citus_service() {
	local ops q d l
	citus_started || return 77
	ops="INSERT INTO crm.interactions (customer_id, occurred_at, channel, direction)
	     SELECT c, current_date - c % 40, (ARRAY['email', 'phone', 'web', 'counter'])[1 + c % 4], 'inbound'
	     FROM generate_series(3001, 3400, 2) c, generate_series(1, 1 + c % 7) k;
	     INSERT INTO crm.complaints (customer_id, category, opened_at, first_response_at, onsite_required)
	     SELECT c, (ARRAY['billing', 'information', 'service_attitude'])[1 + c % 3], current_date - c % 20 - k,
	            current_date - c % 20 - k + (c % 4) * INTERVAL '20 hours', c % 5 = 0
	     FROM generate_series(3001, 3400, 5) c, generate_series(1, 1 + c % 3) k;
	     UPDATE crm.complaints SET resolved_at = now(), follow_up_result = 'unsatisfied'
	     WHERE customer_id % 10 = 1;
	     DELETE FROM crm.interactions WHERE customer_id % 9 = 0;
	     UPDATE crm.customers SET stage = 'terminated', stage_reason = 'moved away' WHERE stage = 'decline' AND customer_id % 4 = 0;
	     UPDATE crm.customers SET level = 'trust', level_reason = 'key account' WHERE level = 'transaction' AND customer_id BETWEEN 3001 AND 3030;"
	cpsql 0 -c "$ops" >/dev/null && spsql -c "$ops" >/dev/null || return 1
	citus_same_state || return 1
	q="SELECT customer_id, category, opened_at, repeat_of IS NOT NULL, escalated, escalation_reason FROM crm.complaints ORDER BY 1, 3, 2"
	d=$(cpsql 0 -c "$q") && l=$(spsql -c "$q") || return 1
	[ "$d" = "$l" ] || { echo "# the complaints differ"; diff <(printf '%s\n' "$l") <(printf '%s\n' "$d") | head -n 4 | sed 's/^/# /'; return 1; }
	# the statements moved something to compare
	[ "$(spsql -c "SELECT (SELECT count(*) FROM crm.complaints WHERE escalated) > 10
	                   AND (SELECT count(*) FROM crm.stage_history WHERE reason IN ('moved away', 'key account')) > 10")" = t ] ||
		{ echo "# the service writes moved too little to tell"; return 1; }
	# an override does not reach the shards: refused, nothing written
	d=$(cpsql 0 -c "SELECT count(*) FROM crm.stage_history") || return 1
	l=$(cpsql 0 -c "SELECT crm.override_stage(3004, 'prospect', 'data fix')" 2>&1) && { echo "# an override was taken"; return 1; }
	printf '%s\n' "$l" | grep -q 'illegal stage transition' || { echo "# $l"; return 1; }
	[ "$(cpsql 0 -c "SELECT count(*) FROM crm.stage_history")" = "$d" ] &&
		[ "$(cpsql 0 -c "SELECT stage FROM crm.customers WHERE customer_id = 3004")" != prospect ]
}

# crm.kpis, the BI views and crm.customer_360 over the distributed CRM
# equal single node; with the row gather disabled too, but for
# crm.stage_durations (percentile_cont, which Citus cannot split).  The
# complaint queue and SLA breaches without their clock times and ids.
CITUS_VIEWS="kpis customer_360 segment_summary lifecycle_funnel churn_watch pareto stage_transitions stage_durations
	customers_below_target_level complaint_queue complaint_sla_breaches"

citus_views() {
	local v q d l g
	citus_started || return 77
	# the segments as a site assigns them (co-located INSERT ... SELECT)
	q="INSERT INTO crm.customer_segments (customer_id, scheme, label, reason)
	   SELECT customer_id, 'rfm', segment, 'rfm ' || rfm::text FROM crm.customers WHERE segment IS NOT NULL"
	cpsql 0 -c "$q" >/dev/null && spsql -c "$q" >/dev/null || return 1
	for v in $CITUS_VIEWS; do
		case $v in
		# their waiting times run with the clock, and the ids are each node's
		complaint_queue) q="SELECT customer_id, service_level, category, escalated, opened_at, first_response_at FROM crm.$v t" ;;
		complaint_sla_breaches) q="SELECT source, customer_id, target_name, target, still_open FROM crm.$v t" ;;
		*) q="SELECT * FROM crm.$v t" ;;
		esac
		q="SELECT * FROM ($q) t ORDER BY t::text"
		l=$(spsql -c "$q") && d=$(cpsql 0 -c "$q") || return 1
		[ "$d" = "$l" ] || { echo "# crm.$v differs"; diff <(printf '%s\n' "$l") <(printf '%s\n' "$d") | head -n 4 | cut -c1-200 | sed 's/^/# /'; return 1; }
		[ "$v" = stage_durations ] && continue
		g=$(cpsql 0 -c "SET citus.coordinator_aggregation_strategy = 'disabled'" -c "$q") || return 1
		[ "$g" = "$l" ] || { echo "# crm.$v differs with the row gather disabled"; return 1; }
	done
	# the views have rows to compare
	[ "$(spsql -c "SELECT (SELECT count(*) FROM crm.kpis) > 12 AND (SELECT count(*) FROM crm.segment_summary) > 3
	               AND (SELECT count(*) FROM crm.complaint_queue) > 10 AND (SELECT count(*) FROM crm.complaint_sla_breaches) > 10
	               AND (SELECT count(*) FROM crm.customer_360) = 2757")" = t ] || { echo "# the views are too empty to tell"; return 1; }
}

# 4 clients at once, 150 random writes each, customers overlapping: no
# write lost (each trigger locks its customers before reading the shard)
citus_concurrent_ops() {
	local n d pids=() rc=0
	citus_started || return 77
	for n in 1 2 3 4; do
		citus_ops 150 $((100 + n)) >"$CITUS_DIR/ops$n.sql"
		cpsql 0 -v ON_ERROR_STOP=0 -f "$CITUS_DIR/ops$n.sql" >"$CITUS_DIR/ops$n.out" 2>&1 &
		pids+=($!)
	done
	for n in "${pids[@]}"; do wait "$n" || rc=1; done
	[ $rc = 0 ] || return 1
	# deadlocks between statements of several customers are resolved by
	# PostgreSQL and Citus (one statement fails); nothing else may fail
	d=$(cat "$CITUS_DIR"/ops?.out | grep ERROR | grep -v deadlock | head -n 3)
	[ -z "$d" ] || { printf '# %s\n' "$d"; return 1; }
	d=$(cpsql 0 -c "$CITUS_RECOMPUTE") || return 1
	[ "$d" = 0 ] || { echo "# $d customers on the shards differ from a recompute"; return 1; }
}

# DROP EXTENSION crm CASCADE on the coordinator: nothing of crm on any worker
citus_drop() {
	local n left out
	citus_started || return 77
	out=$(cpsql 0 -c "DROP EXTENSION crm CASCADE" 2>&1) || { printf '%s\n' "$out" | head -n 5 | sed 's/^/# /'; return 1; }
	for n in 0 1 2; do
		# (shards shown in pg_class: Citus hides them from clients)
		left=$(cpsql $n -c "SET citus.override_table_visibility = off" -c "SELECT (SELECT count(*) FROM pg_extension WHERE extname = 'crm')
		                          + (SELECT count(*) FROM pg_namespace WHERE nspname = 'crm')
		                          + (SELECT count(*) FROM pg_type WHERE typname IN ('summary', 'agg_state', 'btyd_model'))
		                          + (SELECT count(*) FROM pg_proc WHERE probin LIKE '%crm%')
		                          + (SELECT count(*) FROM pg_class WHERE relname ~ '^(customers|stage_history|level_targets)_[0-9]+$')
		                          + (SELECT count(*) FROM pg_dist_partition WHERE logicalrelid NOT IN (SELECT oid FROM pg_class))
		                          + (SELECT count(*) FROM pg_dist_shard WHERE logicalrelid NOT IN (SELECT oid FROM pg_class))") || return 1
		[ "$left" = 0 ] || { echo "# node $n keeps $left objects of crm"; return 1; }
	done
}

# run_citus_checks: every distributed check, through run.sh's check()
run_citus_checks() {
	if [ -n "$(citus_missing)" ]; then
		check "Citus: the distributed tests" citus_start "-"
		return
	fi
	check "Citus: coordinator and two workers" citus_start \
		"a coordinator and two workers on loopback, crm created on the coordinator, CDNOW orders distributed by customer and summarized on the workers"
	check "Citus: summaries" citus_summaries \
		"the summaries computed on the workers (co-located INSERT ... SELECT) equal the single-node ones"
	check "Citus: merge of summaries" citus_merge \
		"crm.summarize(summary) over the distributed table, split (row gather disabled), equals single node"
	check "Citus: RFM cutpoints" citus_cutpoints \
		"crm.rfm_quantiles over the distributed summaries, split (row gather disabled), equals single node (k = 5 and 7)"
	check "Citus: RFM scores" citus_scores \
		"every customer's RFM scores on the workers equal single node"
	check "Citus: segment summaries" citus_segments \
		"customers and spend per RFM segment over the distributed summaries equal single node"
	check "Citus: BG/NBD, Pareto/NBD, MBG/NBD and BG/BB fits" citus_fits \
		"the four fits over the distributed summaries, split (row gather disabled), equal single node bit for bit"
	check "Citus: monthly activity" citus_monthly_activity \
		"crm.monthly_activity (crm.kpis's aggregate) over the distributed summaries, split, equals single node"
	check "Citus: Gamma-Gamma fit" citus_gamma_gamma \
		"crm.fit_gamma_gamma over the distributed summaries equals single node bit for bit"
	check "Citus: validation report" citus_validation \
		"crm.validate over the distributed summaries equals single node (counts exactly, sums of expectations to 1e-12 relative)"
	check "Citus: EXPLAIN" citus_explain \
		"EXPLAIN shows the partial aggregates on the workers (worker_partial_agg, 8 tasks) and the combine on the coordinator"
	check "Citus: crm.distribute" citus_distribute \
		"crm.distribute(8) with the CDNOW customers and orders in crm.customers and crm.orders: 7 tables co-located by customer_id, 3 reference tables, the order trigger on every shard, every summary still equal to a recompute"
	check "Citus: stage funnel" citus_funnel \
		"the stage funnel of the CDNOW sample (stages walked from the maintained summaries, on the workers) equals single node"
	check "Citus: 1,000 random order writes" citus_random_ops \
		"1,000 random inserts, updates and deletes of orders through the coordinator, and a COPY: every customer's summary on the shards equals a recompute and the single node's, and its scores, segment, stage, level and stage history rows too; an order of an unknown customer refused (23503); a login role in crm_writer writes orders too"
	check "Citus: crm.refresh()" citus_refresh \
		"CALL crm.refresh() and crm.refresh(as_of) on the distributed CRM (population state split on the coordinator, each shard rescored on its node) give every customer the single node's RFM, segment, stage, level and stage history rows; as one transaction it is refused"
	check "Citus: service tables and manual changes" citus_service \
		"interactions and complaints written through the coordinator rescore their customers on the shards, complaints escalate, manual stage and level changes are recorded: state, history and complaints equal single node; an override is refused (the setting cannot reach the shards)"
	check "Citus: KPIs, BI views and customer 360" citus_views \
		"crm.kpis, crm.customer_360 and the BI views over the distributed CRM equal single node, with the row gather disabled too (but crm.stage_durations: percentile_cont)"
	check "Citus: concurrent order writes" citus_concurrent_ops \
		"4 clients at once, 150 random order writes each, overlapping customers: every customer's summary on the shards equals a recompute"
	check "Citus: DROP EXTENSION" citus_drop \
		"DROP EXTENSION crm CASCADE on the coordinator, with the CRM tables distributed, leaves nothing of crm on the workers: no schema, type, function, shard or Citus metadata"
	citus_stop
}
