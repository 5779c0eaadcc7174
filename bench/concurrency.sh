#!/bin/sh
# Repeats spec/concurrency_spec.lua (processes sharing one artifact directory) R times and counts,
# per case, the repetitions in which no data was lost: N trains started together (3, or
# MNIST_CONCURRENT_TRAINS), a reader of the pretrained weights against a publisher, two downloads
# started together, a refused --resume of a live run, stale .part files.
#   sh bench/concurrency.sh [R]        (R = 20; from the checkout, after `make`)
# MNIST_MIRROR must name the local MNIST mirror (the Makefile's test targets set it: `make env`
# does not, so e.g. MNIST_MIRROR=../shared/data/mnist sh bench/concurrency.sh).
set -u
reps=${1:-20}
[ -n "${MNIST_MIRROR:-}" ] || { echo "bench/concurrency.sh: set MNIST_MIRROR (see the header)" >&2; exit 2; }
eval "$(make -s env)"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
start=$(date +%s)
i=1
while [ "$i" -le "$reps" ]; do
  luajit /usr/bin/busted -o TAP spec/concurrency_spec.lua > "$log.$i" 2>&1
  grep -E '^(ok|not ok) ' "$log.$i" | sed -E 's/^(ok|not ok) [0-9]+ - /\1\t/' >> "$log"
  if grep -q '^not ok' "$log.$i"; then echo "repetition $i: a case failed, see $log.$i" >&2; else rm -f "$log.$i"; fi
  i=$((i + 1))
done
echo "$reps repetitions in $(( $(date +%s) - start )) s, $(nproc) CPUs, $(lscpu | sed -n 's/^Model name: *//p')"
echo "passed/runs  case"
awk -F '\t' '{ runs[$2]++; if ($1 == "ok") ok[$2]++ } END { for (c in runs) printf "%5d/%-5d %s\n", ok[c], runs[c], c }' "$log" | sort -k2
! grep -q '^not ok' "$log"
