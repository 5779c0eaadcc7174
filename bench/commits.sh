#!/bin/sh
# Our side of the benchmark on several commits, for the "Levers" table of bench/RESULTS.md: each
# commit is checked out into a temporary worktree and built, then every commit runs each workload
# in turn (interleaved, so a busy minute hits them all), `runs` times; prints the means.
#   sh bench/commits.sh [runs] commit...      (MNIST_BENCH_DATA: the MNIST IDX files)
set -eu
runs=$1
shift
here=$(cd "$(dirname "$0")/.." && pwd)
data=${MNIST_BENCH_DATA:-$here/../shared/data/mnist}
tmp=$(mktemp -d)
trap 'for d in "$tmp"/wt-*; do git -C "$here" worktree remove --force "$d" 2>/dev/null || true; done; rm -rf "$tmp"' EXIT
for c in "$@"; do
  git -C "$here" worktree add -q --detach "$tmp/wt-$c" "$c"
  make -s -C "$tmp/wt-$c" all >/dev/null
done
# ours.lua of the newest commit drives every build (older ones may lack a task's flags)
run() { # commit task model steps -> the figure
  wt=$tmp/wt-$1
  LUA_PATH="$wt/lua/?.lua;$wt/lua/?/init.lua;;" LUA_CPATH="$wt/build/?.so;;" \
    luajit "$here/bench/ours.lua" --task "$2" --model "$3" --data "$data" --steps "$4" --warmup 5 |
    sed -n 's/.*"\(images_per_s\|us_per_image\)":\([0-9.]*\).*/\2/p'
}
for c in "$@"; do : > "$tmp/$c.out"; done
i=0
while [ $i -lt "$runs" ]; do
  for c in "$@"; do
    echo "$(run "$c" train default 40) $(run "$c" train lenet 300) $(run "$c" infer default 5) $(run "$c" latency default 200)" >> "$tmp/$c.out"
  done
  i=$((i + 1))
done
echo "commit: train default, train LeNet, infer default (images/s), latency default (us/image); mean of $runs"
for c in "$@"; do
  awk -v c="$c" '{ for (k = 1; k <= 4; k++) s[k] += $k } END { printf "%s %.0f %.0f %.0f %.1f\n", c, s[1]/NR, s[2]/NR, s[3]/NR, s[4]/NR }' "$tmp/$c.out"
done
