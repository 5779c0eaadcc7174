#!/bin/sh
# A benchmark run against two builds of the core, alternately, so both see the same neighbours'
# load (the machines are shared): each run is preceded by its build's name and `uptime`.
#   sh bench/interleave.sh BEFORE_DIR AFTER_DIR REPS SCRIPT [ARGS...]
# BEFORE_DIR/AFTER_DIR hold mnist/core.so (e.g. a copy of build/ made before a change, and build).
#   sh bench/interleave.sh build-before build 3 bench/activations.lua 1 30 cpu
#   sh bench/interleave.sh build-before build 3 bench/layers.lua lenet 64 1 100 cpu
set -e
[ $# -ge 4 ] || { echo "usage: sh bench/interleave.sh BEFORE_DIR AFTER_DIR REPS SCRIPT [ARGS...]" >&2; exit 2; }
before=$1 after=$2 reps=$3
shift 3
for dir in "$before" "$after"; do
  [ -f "$dir/mnist/core.so" ] || { echo "bench/interleave.sh: $dir/mnist/core.so: no such file" >&2; exit 2; }
done
top=$(cd "$(dirname "$0")/.." && pwd)
i=1
while [ "$i" -le "$reps" ]; do
  for dir in "$before" "$after"; do
    echo "== $dir (run $i) $(uptime | sed 's/.*load/load/')"
    LUA_PATH="$top/lua/?.lua;$top/lua/?/init.lua;;" LUA_CPATH="$(cd "$dir" && pwd)/?.so;;" luajit "$@"
  done
  i=$((i + 1))
done
