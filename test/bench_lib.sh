# test/bench_lib.sh: what the benches share (sourced by test/bench_tracking.sh,
# test/bench_history.sh, test/bench_pipeline.sh and test/bench_stages.sh,
# which set DB first).

# bench_workdir NAME: $work, a private directory the server can read,
# removed on exit
bench_workdir() {
	work=$(mktemp -d "/tmp/crm-bench-$1.XXXXXX")
	trap 'rm -rf "$work"' EXIT
	chmod 755 "$work"
}

# gen_base ARGS...: the generator (test/gen/crm_gen.c) built into $work and
# run with ARGS, writing its CSV files into $work, readable by the server
gen_base() {
	cc -std=gnu99 -O2 -o "$work/crm_gen" test/gen/crm_gen.c -lm
	"$work/crm_gen" "$@" -o "$work" 2>/dev/null
	chmod 644 "$work"/*.csv
}

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

# med VALUES...: their median; ratio A B [FORMAT]: A / B (%.3f)
med() { printf '%s\n' "$@" | median; }
ratio() { awk -v a="$1" -v b="$2" -v f="${3:-%.3f}" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) printf "n/a"; else printf f, a / b }'; }
