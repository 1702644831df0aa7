# test/fdw.sh: crm scaled out with postgres_fdw (contrib, no Citus),
# sourced by test/run.sh; runs in the test cluster.
#
# Two databases of the test cluster play two shard servers (reached
# through postgres_fdw over the cluster's socket, as if they were other
# machines); a third, the router, holds orders hash-partitioned by
# customer whose partitions are foreign tables on the shards (server
# option extensions 'crm', so that crm's functions and aggregates may be
# shipped).  The README's recipe, "Scaling out", runs here as written:
# the per-customer summaries are computed on the shards (partitionwise
# aggregation pushed down whole), cutpoints, scores and fits over them on
# the router; every answer equals the single-node one over the same orders.

FDW_AS_OF=1997-09-30

# fpsql DB [psql arguments]
fpsql() {
	local db=$1
	shift
	psql -X -q -At -v ON_ERROR_STOP=1 -d "$db" "$@"
}

fdw_setup() {
	local n
	for n in 1 2; do
		psql_q -c "CREATE DATABASE crm_shard$n" &&
			fpsql crm_shard$n -c "CREATE EXTENSION crm" \
				-c "CREATE TABLE orders (customer_id int NOT NULL, purchased_at date NOT NULL, amount numeric NOT NULL)" \
				-c "CREATE TABLE summaries (customer_id int NOT NULL, s crm.summary)" || return 1
	done
	psql_q -c "CREATE DATABASE crm_router" || return 1
	fpsql crm_router >/dev/null <<-SQL
		CREATE EXTENSION crm;
		CREATE EXTENSION postgres_fdw;
		CREATE SERVER shard1 FOREIGN DATA WRAPPER postgres_fdw
		    OPTIONS (host '$PGHOST', port '$PGPORT', dbname 'crm_shard1', extensions 'crm');
		CREATE SERVER shard2 FOREIGN DATA WRAPPER postgres_fdw
		    OPTIONS (host '$PGHOST', port '$PGPORT', dbname 'crm_shard2', extensions 'crm');
		CREATE USER MAPPING FOR CURRENT_USER SERVER shard1 OPTIONS (user '$PGUSER');
		CREATE USER MAPPING FOR CURRENT_USER SERVER shard2 OPTIONS (user '$PGUSER');
		CREATE TABLE orders (customer_id int NOT NULL, purchased_at date NOT NULL, amount numeric NOT NULL)
		    PARTITION BY HASH (customer_id);
		CREATE FOREIGN TABLE orders_1 PARTITION OF orders FOR VALUES WITH (MODULUS 2, REMAINDER 0)
		    SERVER shard1 OPTIONS (table_name 'orders');
		CREATE FOREIGN TABLE orders_2 PARTITION OF orders FOR VALUES WITH (MODULUS 2, REMAINDER 1)
		    SERVER shard2 OPTIONS (table_name 'orders');
		CREATE TABLE summaries (customer_id int NOT NULL, s crm.summary) PARTITION BY HASH (customer_id);
		CREATE FOREIGN TABLE summaries_1 PARTITION OF summaries FOR VALUES WITH (MODULUS 2, REMAINDER 0)
		    SERVER shard1 OPTIONS (table_name 'summaries');
		CREATE FOREIGN TABLE summaries_2 PARTITION OF summaries FOR VALUES WITH (MODULUS 2, REMAINDER 1)
		    SERVER shard2 OPTIONS (table_name 'summaries');
		-- the CDNOW sample as the pgTAP tests read it (table cdnow)
		\i test/pgtap/cdnow.psql
		ALTER TABLE cdnow RENAME TO cdnow_local;
		CREATE TABLE summaries_local AS
		SELECT customer_id, crm.summarize(purchased_at, amount) AS s FROM cdnow_local GROUP BY 1;
		-- rows routed through the router to the shard that owns the customer
		INSERT INTO orders SELECT * FROM cdnow_local;
	SQL
	[ $? = 0 ] || return 1
	# each shard summarizes its own customers
	for n in 1 2; do
		fpsql crm_shard$n -c "INSERT INTO summaries SELECT customer_id, crm.summarize(purchased_at, amount) FROM orders GROUP BY 1" || return 1
	done
	# both shards hold customers
	[ "$(fpsql crm_shard1 -c 'SELECT count(*) > 0 FROM orders')$(fpsql crm_shard2 -c 'SELECT count(*) > 0 FROM orders')" = tt ]
}

# fdw_same QUERY: over the router's tables ({T} = summaries, {O} = orders)
# and over the local ones, the same rows
fdw_same() {
	local r l
	r=$(fpsql crm_router -c "SET enable_partitionwise_aggregate = on" -c "$(printf '%s' "$1" | sed 's/{T}/summaries/g; s/{O}/orders/g')") || return 1
	l=$(fpsql crm_router -c "$(printf '%s' "$1" | sed 's/{T}/summaries_local/g; s/{O}/cdnow_local/g')") || return 1
	[ -n "$l" ] || { echo "# the single-node query returned nothing"; return 1; }
	[ "$r" = "$l" ] && return 0
	diff <(printf '%s\n' "$l") <(printf '%s\n' "$r") | head -n 6 | cut -c1-200 | sed 's/^/# /'
	return 1
}

# summaries per customer through the router, aggregated on the shards
fdw_summaries() {
	local plan
	plan=$(fpsql crm_router -c "SET enable_partitionwise_aggregate = on" \
		-c "EXPLAIN (VERBOSE, COSTS OFF) SELECT customer_id, crm.summarize(purchased_at, amount) FROM orders GROUP BY 1") || return 1
	[ "$(printf '%s\n' "$plan" | grep -c 'Remote SQL: SELECT customer_id, crm.summarize(purchased_at, amount) FROM public.orders GROUP BY 1')" = 2 ] ||
		{ printf '%s\n' "$plan" | head -n 20 | sed 's/^/# /'; return 1; }
	fdw_same "SELECT customer_id, crm.summarize(purchased_at, amount) FROM {O} GROUP BY 1 ORDER BY 1" &&
		fdw_same "SELECT customer_id, s FROM {T} ORDER BY 1"
}

fdw_cutpoints() {
	fdw_same "SELECT crm.rfm_quantiles(s, DATE '$FDW_AS_OF') FROM {T}" &&
		fdw_same "SELECT crm.summarize(s) FROM {T}"
}

fdw_scores() {
	local c
	c=$(fpsql crm_router -c "SELECT quote_literal(crm.rfm_quantiles(s, DATE '$FDW_AS_OF')) FROM summaries_local") || return 1
	fdw_same "SELECT customer_id, crm.rfm_score(s, $c::crm.rfm_cutpoints) FROM {T} ORDER BY 1"
}

fdw_fits() {
	fdw_same "SELECT crm.btyd_model_send(crm.fit_bgnbd(s, DATE '$FDW_AS_OF', '1 week')),
	                 crm.btyd_model_send(crm.fit_pareto_nbd(s, DATE '$FDW_AS_OF', '1 week')),
	                 crm.btyd_model_send(crm.fit_gamma_gamma(s, DATE '$FDW_AS_OF'))
	          FROM {T}"
}

run_fdw_checks() {
	check "postgres_fdw: two shard servers and a router" fdw_setup \
		"orders hash-partitioned by customer on the router, partitions foreign tables on two servers (extensions 'crm'), CDNOW rows routed to them"
	check "postgres_fdw: summaries on the shards" fdw_summaries \
		"per-customer summaries through the router are computed on the shards (Remote SQL ... crm.summarize ... GROUP BY, partitionwise) and equal single node"
	check "postgres_fdw: cutpoints and merge on the router" fdw_cutpoints \
		"crm.rfm_quantiles and crm.summarize(summary) over the shards' summaries equal single node"
	check "postgres_fdw: RFM scores" fdw_scores \
		"every customer's RFM scores over the shards' summaries equal single node"
	check "postgres_fdw: fits" fdw_fits \
		"BG/NBD, Pareto/NBD and Gamma-Gamma fitted over the shards' summaries equal single node bit for bit"
}
