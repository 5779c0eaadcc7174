#!/bin/sh
# fuzz/run.sh SECONDS TARGET...: runs each libFuzzer target (built by `make fuzz` into
# build-fuzz/) for SECONDS on one core, starting from its committed seeds (fuzz/corpus/<target>/)
# and the inputs earlier runs kept (build-fuzz/corpus/<target>/). Prints one line per target with
# executions and coverage; a crash, leak, timeout or out-of-memory input lands in
# build-fuzz/findings/ and makes the script exit non-zero.
set -u
cd "$(dirname "$0")/.."
seconds=$1
shift
out=build-fuzz
mkdir -p "$out/findings"
failed=0
passed=0
for target in "$@"; do
  mkdir -p "$out/corpus/$target"
  log="$out/$target.log"
  # -timeout: one input may take 10 s at most (an image of 2^26 pixels needs about 2);
  # -rss_limit_mb: what a decompression bomb may cost before it counts as a finding.
  ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$out/fuzz_$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2560 -max_len=65536 \
    -print_final_stats=1 -artifact_prefix="$out/findings/$target-" \
    "$out/corpus/$target" "fuzz/corpus/$target" > "$log" 2>&1
  rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1)
  ft=$(grep -o 'ft: [0-9]*' "$log" | tail -n 1)
  corp=$(grep -o 'corp: [0-9]*/[0-9]*[a-zA-Z]*' "$log" | tail -n 1)
  if [ "$rc" -eq 0 ]; then
    passed=$((passed + 1))
    echo "fuzz $target: ok, ${execs:-?} executions in ${seconds} s, ${cov:-cov: ?}, ${ft:-ft: ?}, ${corp:-corp: ?}"
  else
    failed=$((failed + 1))
    echo "fuzz $target: FAILED (exit $rc) after ${execs:-?} executions ($(grep -m1 -o "Seed: [0-9]*" "$log")); see $log and $out/findings/"
    grep -E '^(==[0-9]+==ERROR|SUMMARY|lua_harness: finding|.*runtime error)' "$log" | head -n 5
  fi
done
echo "fuzz: $passed targets passed, $failed failed"
[ "$failed" -eq 0 ]
