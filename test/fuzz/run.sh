#!/usr/bin/env bash
# test/fuzz/run.sh: `make fuzz`.  Builds the libFuzzer targets
# (test/fuzz/build.sh, clang with AddressSanitizer and
# UndefinedBehaviorSanitizer), replays the inputs that once crashed them
# (test/fuzz/regressions/<target>/), then fuzzs each target for
# FUZZ_SECONDS (default 60) from the committed seeds
# (test/fuzz/corpus/<target>/) and the corpus grown by earlier runs
# (build/fuzz/corpus/<target>/, not committed).  Prints the executions per
# target and the errors found (a crash, a sanitizer report, an internal
# error or an output that does not read back; the input is kept in
# build/fuzz/crashes/); exits non-zero if there is any.
set -u
cd "$(dirname "$0")/../.."
out=build/fuzz
mkdir -p "$out"
seconds=${FUZZ_SECONDS:-60}
# FUZZ_RUNS=N: N inputs per target from seed 1 instead (the suite's form:
# the same inputs in every run)
if [ -n "${FUZZ_RUNS:-}" ]; then
	budget="-runs=$FUZZ_RUNS -seed=1"
	what="$FUZZ_RUNS inputs"
else
	budget="-max_total_time=$seconds"
	what="${seconds}s"
fi
test/fuzz/build.sh "$out" >"$out/build.log" 2>&1 || { cat "$out/build.log" >&2; echo "fuzz: the targets did not build" >&2; exit 2; }
mkdir -p "$out/crashes"
total=0 errors=0
for t in $(cat "$out/targets"); do
	mkdir -p "$out/corpus/$t"
	e=0
	if [ -d "test/fuzz/regressions/$t" ]; then
		"$out/$t" test/fuzz/regressions/"$t"/* >"$out/$t.regressions.log" 2>&1 || {
			e=$((e + 1))
			grep -m3 -E 'ERROR|runtime error|internal error|does not read|reads back' "$out/$t.regressions.log" | sed 's/^/#   /'
		}
	fi
	"$out/$t" $budget -print_final_stats=1 -artifact_prefix="$out/crashes/$t-" \
		-rss_limit_mb=1024 "$out/corpus/$t" $(ls -d "test/fuzz/corpus/$t" 2>/dev/null) >"$out/$t.log" 2>&1 || {
		e=$((e + 1))
		grep -m3 -E 'ERROR|runtime error|internal error|does not read|reads back' "$out/$t.log" | sed 's/^/#   /'
	}
	n=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/$t.log" | tail -n1)
	printf 'fuzz %-32s %10s executions (%s), %s regression inputs replayed, %d errors\n' "$t" "${n:-0}" "$what" \
		"$(ls "test/fuzz/regressions/$t" 2>/dev/null | wc -l)" "$e"
	total=$((total + ${n:-0})); errors=$((errors + e))
done
printf 'fuzz: %d targets, %d executions, %d errors (ASan+UBSan)\n' "$(wc -l <"$out/targets")" "$total" "$errors"
[ "$errors" = 0 ]
