#!/usr/bin/env bash
# test/fuzz/run.sh: `make fuzz`.  Builds the libFuzzer targets
# (test/fuzz/build.sh, clang with AddressSanitizer and
# UndefinedBehaviorSanitizer), replays the inputs that once crashed them
# (test/fuzz/regressions/<target>/), then fuzzs each target for
# FUZZ_SECONDS (default 60) from the committed seeds
# (test/fuzz/corpus/<target>/) and the corpus grown by earlier runs
# (build/fuzz/corpus/<target>/, not committed), FUZZ_JOBS (default 2)
# targets at a time.  FUZZ_SEED=N makes libFuzzer's choices start from
# seed N (the suite uses 1); the run is still bounded by time, so how far
# it gets depends on the machine's speed.  Prints the executions per
# target and the errors found (a crash, a sanitizer report, an internal
# error or an output that does not read back; the input is kept in
# build/fuzz/crashes/); exits non-zero if there is any.
set -u
cd "$(dirname "$0")/../.."
out=build/fuzz
mkdir -p "$out"
seconds=${FUZZ_SECONDS:-60}
jobs=${FUZZ_JOBS:-2}
# FUZZ_RUNS=N: N inputs per target instead of a time (from seed 1 unless
# FUZZ_SEED says otherwise: the same inputs in every run)
if [ -n "${FUZZ_RUNS:-}" ]; then
	budget="-runs=$FUZZ_RUNS -seed=${FUZZ_SEED:-1}"
	what="$FUZZ_RUNS inputs, seed ${FUZZ_SEED:-1}"
else
	budget="-max_total_time=$seconds${FUZZ_SEED:+ -seed=$FUZZ_SEED}"
	what="${seconds} s${FUZZ_SEED:+, seed $FUZZ_SEED}"
fi
test/fuzz/build.sh "$out" >"$out/build.log" 2>&1 || { cat "$out/build.log" >&2; echo "fuzz: the targets did not build" >&2; exit 2; }
mkdir -p "$out/crashes"
rm -f "$out"/*.result

# fuzz_one TARGET: its regression inputs replayed, then fuzzed; one result
# line into $out/TARGET.result: executions, errors, then what is printed
fuzz_one() {
	local t=$1 e=0 n
	mkdir -p "$out/corpus/$t"
	: >"$out/$t.errors"
	if [ -d "test/fuzz/regressions/$t" ]; then
		"$out/$t" test/fuzz/regressions/"$t"/* >"$out/$t.regressions.log" 2>&1 || {
			e=$((e + 1))
			grep -m3 -E 'ERROR|runtime error|internal error|does not read|reads back' "$out/$t.regressions.log" | sed 's/^/#   /' >>"$out/$t.errors"
		}
	fi
	# shellcheck disable=SC2086
	"$out/$t" $budget -print_final_stats=1 -artifact_prefix="$out/crashes/$t-" \
		-rss_limit_mb=1024 "$out/corpus/$t" $(ls -d "test/fuzz/corpus/$t" 2>/dev/null) >"$out/$t.log" 2>&1 || {
		e=$((e + 1))
		grep -m3 -E 'ERROR|runtime error|internal error|does not read|reads back' "$out/$t.log" | sed 's/^/#   /' >>"$out/$t.errors"
	}
	n=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/$t.log" | tail -n1)
	printf '%s %s\n' "${n:-0}" "$e" >"$out/$t.result"
}

running=0
for t in $(cat "$out/targets"); do
	fuzz_one "$t" &
	running=$((running + 1))
	if [ "$running" -ge "$jobs" ]; then wait -n; running=$((running - 1)); fi
done
wait

total=0 errors=0
for t in $(cat "$out/targets"); do
	read -r n e <"$out/$t.result" || { n=0; e=1; }
	cat "$out/$t.errors"
	printf 'fuzz %-32s %10s executions (%s), %s regression inputs replayed, %d errors\n' "$t" "$n" "$what" \
		"$(ls "test/fuzz/regressions/$t" 2>/dev/null | wc -l)" "$e"
	total=$((total + n)); errors=$((errors + e))
done
printf 'fuzz: %d targets, %d executions, %d errors (ASan+UBSan)\n' "$(wc -l <"$out/targets")" "$total" "$errors"
[ "$errors" = 0 ]
