#!/usr/bin/env bash
# test/sanitize.sh: `make sanitize`.  The C unit tests of the kernels
# (test/unit/) built with clang under AddressSanitizer and
# UndefinedBehaviorSanitizer (every report fatal) and run; prints each
# test's TAP count and the sanitizer errors (0 expected).  The fuzz targets
# run under the same sanitizers (test/fuzz/run.sh).
set -u
cd "$(dirname "$0")/.."
out=build/sanitize
mkdir -p "$out"
CC=${FUZZ_CC:-clang}
flags="-std=gnu99 -g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all -I src"
kernels=$(ls src/*_kernel.c)
data=${CRM_DATA:-test/data}/cdnow/cdnow_customers_summary_with_transactions.csv
errors=0 passed=0 failed=0
# each kernel compiled once; a test that #includes a kernel's source is not
# linked with it again
for k in $kernels; do
	o="$out/$(basename "$k" .c).o"
	[ "$o" -nt "$k" ] || $CC $flags -c "$k" -o "$o" || errors=$((errors + 1))
done
for t in test/unit/*_test.c; do
	name=$(basename "$t" .c)
	included=" $(sed -n 's|^#include "\(.*_kernel\)\.c"|\1|p' "$t" | xargs) "
	objs=$(for k in $kernels; do b=$(basename "$k" .c); case "$included" in *" $b "*) ;; *) printf '%s ' "$out/$b.o" ;; esac; done)
	if ! $CC $flags -o "$out/$name" "$t" $objs -lm 2>"$out/$name.build.log"; then
		cat "$out/$name.build.log" >&2; errors=$((errors + 1)); continue
	fi
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 "$out/$name" "$data" >"$out/$name.log" 2>&1
	rc=$?
	p=$(grep -cE '^ok ' "$out/$name.log"); f=$(grep -cE '^not ok ' "$out/$name.log")
	e=$(grep -cE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$out/$name.log")
	[ "$rc" = 0 ] || [ "$e" != 0 ] || e=1
	printf 'sanitize %-28s %4d passed, %d failed, %d sanitizer errors\n' "$name" "$p" "$f" "$e"
	[ "$e" = 0 ] || grep -m3 -E 'ERROR|runtime error' "$out/$name.log" | sed 's/^/#   /'
	passed=$((passed + p)); failed=$((failed + f)); errors=$((errors + e))
done
printf 'sanitize: unit tests under ASan+UBSan: %d passed, %d failed, %d sanitizer errors\n' "$passed" "$failed" "$errors"
[ "$errors" = 0 ] && [ "$failed" = 0 ]
