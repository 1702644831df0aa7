#!/usr/bin/env bash
# test/bench_attach.sh: the cost of attaching crm to the order tables an
# application has (issue 15), run by `make bench-attach` (test/run.sh
# bench-attach) once the extension is installed and a throwaway cluster is
# up; prints medians and ratios measured in the same run.
#
#   attach: crm.track_orders() of the generator's orders (about 5.3 orders
#   per customer) for each size in SIZES, into a new database (no customer,
#   no cutpoints: the first contact computes them) and into one already
#   holding every customer and stored cutpoints, against its floor: the
#   bare GROUP BY of the orders into summaries plus a bare INSERT of the
#   same customer rows into a copy of crm.customers.  The largest size's
#   ratio is the goal (<= 2); time per customer across the sizes shows
#   whether it grows linearly.
#
#   restated floor: that floor plus what an attach into a new database
#   must also do by issue 14 and the first contact, each timed alone in the
#   same run right after the attach: a bare INSERT of the history rows the
#   attach wrote (the month-end stage walk, copied first) into a table
#   shaped like crm.stage_history, crm.compute_scoring() of the attached
#   population (the cutpoints and model of the first contact), and for uuid
#   keys a bare INSERT of the key mapping rows into a copy of
#   crm.customer_keys.  Both ratios are printed.
#
#   restated floor for a used database: an attach into a database
#   already holding the customers merges their orders into rows that exist:
#   an UPDATE of each row (its old version kept until vacuumed, the new
#   one written, the generated columns computed again, the indexes given
#   an entry unless the update is HOT), which costs more than an INSERT
#   into an empty table, the issue's floor.  So the used case is also set
#   against the bare GROUP BY (the floor's own) plus, timed alone right
#   after the attach: a bare UPDATE of the same customer rows in a
#   trigger-free copy of crm.customers (the rows as the used database held
#   them before the attach, same fillfactor, indexes and generated columns)
#   from the grouped summaries by customer_id, writing the columns the
#   attach writes (summary, scores, segment, stage and level columns), in
#   customer order as the attach writes them (a merge join: the hash join
#   the planner prefers writes the rows in hash order, each new primary key
#   entry at a random place, and took 1.6 times as long at 200,000); a
#   bare INSERT of the history rows that attach wrote, counted and printed;
#   and for uuid keys a bare lookup of the keys (the distinct keys joined
#   to crm.customer_keys).  Both ratios are printed.
#
#   keys: the same orders as an application stores them (uuid customers,
#   timestamptz, cents, a status with a third not paid) attached with
#   amount_scale => 2 and filter => 'status = ''paid''', against the same
#   floor over the paid rows.
#
#   pgbench: 2 clients inserting single orders into the uuid-keyed table
#   with its status filter, against the same inserts into an identical
#   table with no triggers; and the bigint path the same way; rounds
#   interleaved.
#
#   COPY: COPY_ORDERS uuid-keyed orders (status filter, cents) by one COPY
#   into the tracked table against the same COPY with no triggers, and
#   against a restated floor: that COPY plus a bare UPDATE rewriting the
#   rows of the customers the COPY touches in a trigger-free copy of
#   crm.customers (what keeping each customer current must write at least).
#
#   SIZES       customer counts (default "100000 1000000")
#   RUNS        timed runs per case (default 3)
#   ROUNDS      pgbench rounds per side (default 3), ROUND_SECONDS long (default 20)
#   COPY_ORDERS orders of the COPY case (default 1000000)
set -eu
cd "$(dirname "$0")/.."
SIZES=${SIZES:-"100000 1000000"}
RUNS=${RUNS:-3}
ROUNDS=${ROUNDS:-3}
SECONDS_PER_ROUND=${ROUND_SECONDS:-20}
COPY_ORDERS=${COPY_ORDERS:-1000000}
SEED=${SEED:-20240601}
DB=crm_attach

. test/bench_lib.sh
bench_workdir attach
# ms SQL...: client-side time of the last statement, in ms
ms() {
	psql -X -At -v ON_ERROR_STOP=1 -d "$DB" -c "SET crm.as_of = '2025-12-31'; SET client_min_messages = warning" \
		"${@:1:$#-1}" -c '\timing on' -c "${@: -1}" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | tail -1
}

# fresh: crm made anew (no customers, no cutpoints); used: every customer
# there and the cutpoints of a refresh stored, the table not attached
reset_crm() {
	q -c "SET client_min_messages = warning" -c "DROP EXTENSION IF EXISTS crm CASCADE" -c "CREATE EXTENSION crm"
	if [ "$1" = used ]; then
		q -o /dev/null <<-SQL
			SET crm.as_of = '2025-12-31';
			SET client_min_messages = warning;
			SELECT crm.track_orders('$2', $3);
			SELECT crm.untrack_orders('$2', forget => true);
			VACUUM ANALYZE crm.customers;
		SQL
	fi
	q -c "CHECKPOINT"
}

# restate HIST SCORING [KEYS]: right after an attach into a new database,
# the parts of its restated floor timed alone, appended to the arrays named:
# a bare INSERT of the history rows it wrote, crm.compute_scoring() of the
# population it made (what the first contact computed), and a bare INSERT
# of the key mapping rows it made
restate() {
	local -n h=$1 c=$2
	q -c "SET client_min_messages = warning" -c "DROP TABLE IF EXISTS bench.history_copy, bench.history_floor, bench.keys_copy, bench.keys_floor" \
		-c "CREATE TABLE bench.history_copy AS SELECT * FROM crm.stage_history" \
		-c "CREATE TABLE bench.history_floor (LIKE crm.stage_history INCLUDING DEFAULTS INCLUDING INDEXES INCLUDING STORAGE)" \
		-c "CREATE TABLE bench.keys_copy AS SELECT * FROM crm.customer_keys" \
		-c "CREATE TABLE bench.keys_floor (LIKE crm.customer_keys INCLUDING DEFAULTS INCLUDING INDEXES INCLUDING STORAGE)" \
		-c "DELETE FROM crm.scoring" -c "CHECKPOINT"
	h+=("$(ms "INSERT INTO bench.history_floor SELECT * FROM bench.history_copy")")
	c+=("$(ms "SELECT crm.compute_scoring('2025-12-31')")")
	if [ $# -gt 2 ]; then
		local -n k=$3
		k+=("$(ms "INSERT INTO bench.keys_floor SELECT * FROM bench.keys_copy")")
	fi
	hrows=$(q -At -c "SELECT count(*) FROM bench.history_copy")
}

# used_before: right before an attach into a used database, a trigger-free
# copy of crm.customers as it is (bench.used_floor) and the last history row
used_before() {
	local cols
	cols=$(q -At -c "SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) FROM pg_attribute
	                 WHERE attrelid = 'crm.customers'::regclass AND attnum > 0 AND NOT attisdropped AND attgenerated = ''")
	q -c "SET client_min_messages = warning" -c "DROP TABLE IF EXISTS bench.used_floor" \
		-c "CREATE TABLE bench.used_floor (LIKE crm.customers INCLUDING ALL) WITH (fillfactor = 80)" \
		-c "INSERT INTO bench.used_floor ($cols) SELECT $cols FROM crm.customers" \
		-c "VACUUM ANALYZE bench.used_floor" -c "CHECKPOINT"
	hlast=$(q -At -c "SELECT coalesce(max(history_id), 0) FROM crm.stage_history")
}

# restate_used TABLE SUMMARY_SQL UPDATE HIST [KEYS]: right after an attach
# into a used database, the parts of its restated floor timed alone,
# appended to the arrays named: a bare UPDATE of bench.used_floor from the
# summaries grouped by SUMMARY_SQL (grouped again untimed: the GROUP BY is
# the floor's), a bare INSERT of the history rows the attach wrote, and
# with KEYS the bare lookup of the grouped keys in crm.customer_keys
restate_used() {
	local -n u=$3 h=$4
	local by_id=bench.used_summaries
	q -c "SET client_min_messages = warning" -c "DROP TABLE IF EXISTS bench.used_summaries, bench.used_by_id, bench.history_copy, bench.history_floor" \
		-c "CREATE TABLE bench.used_summaries AS $2" \
		-c "CREATE TABLE bench.history_copy AS SELECT * FROM crm.stage_history WHERE history_id > $hlast" \
		-c "CREATE TABLE bench.history_floor (LIKE crm.stage_history INCLUDING DEFAULTS INCLUDING INDEXES INCLUDING STORAGE)" \
		-c "VACUUM ANALYZE bench.used_summaries" -c "CHECKPOINT"
	if [ $# -gt 4 ]; then
		local -n k=$5
		k+=("$(ms "CREATE TABLE bench.used_by_id AS SELECT k.customer_id, s.summary FROM bench.used_summaries s
		           JOIN crm.customer_keys k ON k.app_key = s.customer::text")")
		by_id=bench.used_by_id
	fi
	u+=("$(ms -c "SET enable_hashjoin = off" "UPDATE bench.used_floor c SET summary = b.summary, rfm = c.rfm, segment = c.segment, scored_on = c.scored_on,
	           stage = c.stage, stage_reason = c.stage_reason, stage_since = c.stage_since,
	           level = c.level, level_reason = c.level_reason, level_since = c.level_since
	           FROM $by_id b WHERE c.customer_id = b.customer_id")")
	h+=("$(ms "INSERT INTO bench.history_floor SELECT * FROM bench.history_copy")")
	hrows=$(q -At -c "SELECT count(*) FROM bench.history_copy")
}

echo "crm attach bench: sizes=$SIZES runs=$RUNS pgbench rounds=$ROUNDS x ${SECONDS_PER_ROUND}s copy=$COPY_ORDERS (medians, ms)"
for n in $SIZES; do
	gen_base -n "$n" -s "$SEED" >/dev/null
	orders=$(wc -l <"$work/orders.csv")
	psql -X -q -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
	q <<-SQL
		CREATE EXTENSION crm;
		CREATE SCHEMA bench;
		CREATE TABLE bench.orders (customer_id bigint NOT NULL, ordered_at date NOT NULL, amount numeric(12,2) NOT NULL);
		\copy bench.orders FROM '$work/orders.csv' WITH (FORMAT csv)
		-- as an application stores them: uuid keys, timestamptz, cents, statuses
		CREATE TABLE bench.app_orders AS
		SELECT row_number() OVER () AS id,
		       (lpad(to_hex(customer_id), 8, '0') || '-0000-4000-8000-' || lpad(to_hex(customer_id * 7919 % 281474976710656), 12, '0'))::uuid AS customer,
		       (ordered_at + time '12:00') AT TIME ZONE 'UTC' AS created_at, (amount * 100)::bigint AS total_cents,
		       CASE WHEN random() < 0.33 THEN 'cancelled' ELSE 'paid' END AS status
		FROM bench.orders;
		VACUUM ANALYZE bench.orders, bench.app_orders;
		SELECT crm.set_business_time_zone('UTC') \\gset
	SQL
	paid=$(q -At -c "SELECT count(*) FROM bench.app_orders WHERE status = 'paid'")
	attach_int="'customer_id', 'ordered_at', 'amount'"
	attach_key="'customer', 'created_at', 'total_cents', amount_scale => 2, filter => \$\$status = 'paid'\$\$"
	floor=() fresh=() used=() kfloor=() kfresh=() kused=() hist=() scor=() khist=() kscor=() kmap=()
	uupd=() uhist=() kuupd=() kuhist=() kulook=() fgroup=() kfgroup=()
	for ((i = 0; i < RUNS; i++)); do
		# (made again each run: a reset drops crm and its types with them)
		reset_crm fresh
		q -c "DROP TABLE IF EXISTS bench.floor_customers" -c "CREATE TABLE bench.floor_customers (LIKE crm.customers INCLUDING DEFAULTS)" -c "CHECKPOINT"
		g=$(ms -c "DROP TABLE IF EXISTS bench.floor_summaries" \
			"CREATE TABLE bench.floor_summaries AS SELECT customer_id, crm.summarize(ordered_at, amount) AS summary FROM bench.orders GROUP BY 1")
		s=$(ms "INSERT INTO bench.floor_customers (customer_id, summary) SELECT customer_id, summary FROM bench.floor_summaries")
		floor+=("$(awk -v a="$g" -v b="$s" 'BEGIN { print a + b }')")
		fgroup+=("$g")
		q -c "TRUNCATE bench.floor_customers" -c "CHECKPOINT"
		g=$(ms -c "DROP TABLE IF EXISTS bench.floor_summaries" \
			"CREATE TABLE bench.floor_summaries AS SELECT customer, crm.summarize((created_at AT TIME ZONE 'UTC')::date, total_cents / 100::numeric) AS summary FROM bench.app_orders WHERE status = 'paid' GROUP BY 1")
		s=$(ms "INSERT INTO bench.floor_customers (customer_id, summary) SELECT row_number() OVER (), summary FROM bench.floor_summaries")
		kfloor+=("$(awk -v a="$g" -v b="$s" 'BEGIN { print a + b }')")
		kfgroup+=("$g")
		reset_crm fresh
		fresh+=("$(ms "SELECT crm.track_orders('bench.orders', $attach_int)")")
		restate hist scor
		bh=$hrows
		reset_crm used bench.orders "$attach_int"
		used_before
		used+=("$(ms "SELECT crm.track_orders('bench.orders', $attach_int)")")
		restate_used bench.orders "SELECT customer_id, crm.summarize(ordered_at, amount) AS summary FROM bench.orders GROUP BY 1" uupd uhist
		uh=$hrows
		reset_crm fresh
		kfresh+=("$(ms "SELECT crm.track_orders('bench.app_orders', $attach_key)")")
		restate khist kscor kmap
		kh=$hrows
		reset_crm used bench.app_orders "$attach_key"
		used_before
		kused+=("$(ms "SELECT crm.track_orders('bench.app_orders', $attach_key)")")
		restate_used bench.app_orders "SELECT customer::text AS customer, crm.summarize((created_at AT TIME ZONE 'UTC')::date, total_cents / 100::numeric) AS summary
		                               FROM bench.app_orders WHERE status = 'paid' GROUP BY 1" kuupd kuhist kulook
		kuh=$hrows
	done
	fm=$(med "${floor[@]}") kfm=$(med "${kfloor[@]}")
	echo "  $n customers, $orders orders ($paid paid in the uuid table):"
	echo "    floor (GROUP BY + INSERT) ${floor[*]}; attach into a new database ${fresh[*]}; into one with customers and cutpoints ${used[*]}"
	echo "    bigint keys: floor $fm, new $(med "${fresh[@]}") (ratio $(ratio "$(med "${fresh[@]}")" "$fm")), used $(med "${used[@]}") (ratio $(ratio "$(med "${used[@]}")" "$fm")); goal <= 2"
	echo "    uuid keys: floor ${kfloor[*]}; attach into a new database ${kfresh[*]}; into one with customers and cutpoints ${kused[*]}"
	echo "    uuid keys, cents, paid only: floor $kfm, new $(med "${kfresh[@]}") (ratio $(ratio "$(med "${kfresh[@]}")" "$kfm")), used $(med "${kused[@]}") (ratio $(ratio "$(med "${kused[@]}")" "$kfm"))"
	rf=$(awk -v a="$fm" -v b="$(med "${hist[@]}")" -v c="$(med "${scor[@]}")" 'BEGIN { print a + b + c }')
	krf=$(awk -v a="$kfm" -v b="$(med "${khist[@]}")" -v c="$(med "${kscor[@]}")" -v d="$(med "${kmap[@]}")" 'BEGIN { print a + b + c + d }')
	echo "    restated floor for a new database (+ INSERT of the history rows of the walk, $bh / uuid $kh: ${hist[*]} / uuid ${khist[*]}, + compute_scoring ${scor[*]} / uuid ${kscor[*]}, + uuid key mapping ${kmap[*]})"
	echo "    bigint keys, new database: restated floor $rf, attach $(med "${fresh[@]}") (ratio $(ratio "$(med "${fresh[@]}")" "$rf")); uuid keys: restated floor $krf, attach $(med "${kfresh[@]}") (ratio $(ratio "$(med "${kfresh[@]}")" "$krf")); goal <= 2"
	# the used case: the floor's GROUP BY (the floor less its INSERT) + the UPDATE + the history rows (+ the key lookup)
	urf=$(awk -v a="$(med "${fgroup[@]}")" -v b="$(med "${uupd[@]}")" -v c="$(med "${uhist[@]}")" 'BEGIN { print a + b + c }')
	kurf=$(awk -v a="$(med "${kfgroup[@]}")" -v b="$(med "${kuupd[@]}")" -v c="$(med "${kuhist[@]}")" -v d="$(med "${kulook[@]}")" 'BEGIN { print a + b + c + d }')
	echo "    restated floor for a used database (GROUP BY ${fgroup[*]} / uuid ${kfgroup[*]}, + bare UPDATE of the customer rows ${uupd[*]} / uuid ${kuupd[*]}, + INSERT of the history rows the attach wrote, $uh / uuid $kuh: ${uhist[*]} / uuid ${kuhist[*]}, + uuid key lookup ${kulook[*]})"
	echo "    bigint keys, used database: restated floor $urf, attach $(med "${used[@]}") (ratio $(ratio "$(med "${used[@]}")" "$urf")); uuid keys: restated floor $kurf, attach $(med "${kused[@]}") (ratio $(ratio "$(med "${kused[@]}")" "$kurf")); goal <= 2"
	echo "    per 1,000 customers: floor $(awk -v a="$fm" -v n="$n" 'BEGIN { printf "%.1f", a * 1000 / n }'), attach new $(awk -v a="$(med "${fresh[@]}")" -v n="$n" 'BEGIN { printf "%.1f", a * 1000 / n }'), used $(awk -v a="$(med "${used[@]}")" -v n="$n" 'BEGIN { printf "%.1f", a * 1000 / n }')"
done

# single-order inserts and COPY into the uuid-keyed table with its filter
reset_crm fresh
q <<-SQL
	SET crm.as_of = '2025-12-31';
	SET client_min_messages = warning;
	CREATE TABLE bench.app_tracked (id bigserial PRIMARY KEY, customer uuid NOT NULL, created_at timestamptz NOT NULL,
	                                total_cents bigint NOT NULL, status text NOT NULL);
	CREATE TABLE bench.app_plain (LIKE bench.app_tracked INCLUDING ALL);
	CREATE TABLE bench.int_tracked (id bigserial PRIMARY KEY, customer_id bigint NOT NULL, ordered_on date NOT NULL, amount numeric(12,2) NOT NULL);
	CREATE TABLE bench.int_plain (LIKE bench.int_tracked INCLUDING ALL);
	SELECT crm.track_orders('bench.app_tracked', 'customer', 'created_at', 'total_cents', amount_scale => 2, filter => \$\$status = 'paid'\$\$) \\gset
	SELECT crm.track_orders('bench.int_tracked', 'customer_id', 'ordered_on', 'amount') \\gset
	INSERT INTO bench.app_tracked (customer, created_at, total_cents, status)
	SELECT customer, created_at, total_cents, status FROM bench.app_orders;
	INSERT INTO bench.int_tracked (customer_id, ordered_on, amount) SELECT * FROM bench.orders;
	CALL crm.refresh('2025-12-31', commit_batches => false);
	VACUUM ANALYZE;
SQL
nkeys=$(q -At -c "SELECT max(customer_id) FROM bench.orders")
# the uuid of customer k as bench.app_orders has it, computed on both sides
cat >"$work/app.sql" <<-SQL
	\set k random(1, $nkeys)
	INSERT INTO bench.TABLE (customer, created_at, total_cents, status)
	VALUES ((lpad(to_hex(:k), 8, '0') || '-0000-4000-8000-' || lpad(to_hex(:k::bigint * 7919 % 281474976710656), 12, '0'))::uuid,
	        now(), 1999, CASE WHEN :k % 3 = 0 THEN 'cancelled' ELSE 'paid' END);
SQL
cat >"$work/int.sql" <<-SQL
	\set k random(1, $nkeys)
	INSERT INTO bench.TABLE (customer_id, ordered_on, amount) VALUES (:k, '2025-12-30', 19.99);
SQL
sed 's/TABLE/app_tracked/' "$work/app.sql" >"$work/app_tracked.sql"
sed 's/TABLE/app_plain/' "$work/app.sql" >"$work/app_plain.sql"
sed 's/TABLE/int_tracked/' "$work/int.sql" >"$work/int_tracked.sql"
sed 's/TABLE/int_plain/' "$work/int.sql" >"$work/int_plain.sql"
# a round whose pgbench fails says why on stderr and gives no figure (its
# ratio then prints n/a instead of a number made of nothing)
tps() {
	local out v
	out=$(PGOPTIONS="-c crm.as_of=2025-12-31" pgbench -n -c 2 -j 2 -T "$SECONDS_PER_ROUND" -f "$work/$1.sql" "$DB" 2>&1) || true
	v=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' <<<"$out")
	[ -n "$v" ] || echo "  pgbench $1 failed: $(grep -m1 -iE 'error|fatal' <<<"$out")" >&2
	echo "$v"
}
at=() ap=() it=() ip=()
for ((i = 0; i < ROUNDS; i++)); do
	at+=("$(tps app_tracked)")
	ap+=("$(tps app_plain)")
	it+=("$(tps int_tracked)")
	ip+=("$(tps int_plain)")
done
echo "  pgbench (2 clients, single-order inserts), tps: uuid+filter tracked ${at[*]}; no triggers ${ap[*]}; bigint tracked ${it[*]}; no triggers ${ip[*]}"
echo "    uuid+filter tracked/untracked $(ratio "$(med "${at[@]}")" "$(med "${ap[@]}")") (goal >= 0.55); bigint $(ratio "$(med "${it[@]}")" "$(med "${ip[@]}")") (goal >= 0.60)"

q -c "\\copy (SELECT customer, created_at + interval '1 day', total_cents, status FROM bench.app_orders LIMIT $COPY_ORDERS) TO '$work/app.csv' (FORMAT csv)"
chmod a+rx "$work"; chmod a+r "$work/app.csv"
# the restated floor's second part: the customers the COPY's paid rows
# touch, their rows rewritten by a bare UPDATE of a trigger-free copy of
# crm.customers (same columns, generated ones and indexes included)
cols=$(q -At -c "SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) FROM pg_attribute
                 WHERE attrelid = 'crm.customers'::regclass AND attnum > 0 AND NOT attisdropped AND attgenerated = ''")
q <<-SQL
	CREATE TABLE bench.copy_touched AS
	SELECT DISTINCT k.customer_id FROM (SELECT customer, status FROM bench.app_orders LIMIT $COPY_ORDERS) o
	JOIN crm.customer_keys k ON k.app_key = o.customer::text WHERE o.status = 'paid';
	CREATE TABLE bench.customers_floor (LIKE crm.customers INCLUDING ALL);
	INSERT INTO bench.customers_floor ($cols) SELECT $cols FROM crm.customers;
	VACUUM ANALYZE bench.copy_touched, bench.customers_floor;
SQL
ntouched=$(q -At -c "SELECT count(*) FROM bench.copy_touched")
ct=() cp=() cu=()
for ((i = 0; i < RUNS; i++)); do
	ct+=("$(ms "COPY bench.app_tracked (customer, created_at, total_cents, status) FROM '$work/app.csv' (FORMAT csv)")")
	cp+=("$(ms "COPY bench.app_plain (customer, created_at, total_cents, status) FROM '$work/app.csv' (FORMAT csv)")")
	cu+=("$(ms "UPDATE bench.customers_floor c SET summary = c.summary, rfm = c.rfm, segment = c.segment, scored_on = c.scored_on
	            FROM bench.copy_touched t WHERE c.customer_id = t.customer_id")")
done
echo "  COPY of $COPY_ORDERS uuid-keyed orders, ms: tracked ${ct[*]}; no triggers ${cp[*]}; ratio $(ratio "$(med "${ct[@]}")" "$(med "${cp[@]}")") (goal <= 2)"
cf=$(awk -v a="$(med "${cp[@]}")" -v b="$(med "${cu[@]}")" 'BEGIN { printf "%.1f", a + b }')
echo "    restated floor: the COPY with no triggers + a bare UPDATE of the $ntouched customers it touches (${cu[*]}) = $cf; ratio $(ratio "$(med "${ct[@]}")" "$cf") (goal <= 2)"
