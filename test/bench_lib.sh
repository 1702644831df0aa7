# test/bench_lib.sh: what the order-maintenance benches share (sourced by
# test/bench_tracking.sh and test/bench_history.sh, which set DB first).

# q ARGS...: psql in the bench database
q() { psql -X -q -v ON_ERROR_STOP=1 -d "$DB" "$@"; }

# new_shop_db: the bench database made anew, with crm and an empty order
# table bench.shop
new_shop_db() {
	psql -X -q -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
	q <<-SQL
		CREATE EXTENSION crm;
		CREATE SCHEMA bench;
		CREATE TABLE bench.shop (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, customer_id bigint NOT NULL,
		                         ordered_on date NOT NULL, amount numeric(12,2) NOT NULL);
	SQL
}

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
