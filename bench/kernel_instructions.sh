#!/bin/sh
# Instructions (callgrind's Ir, inclusive) of one forward and one backward call of each
# transcendental activation and of 2x2 max pooling (bench/kernel_instructions.lua), per build of
# the core (valgrind runs the AVX2 paths, never AVX-512's): a comparison the machine's load does not
# move. The kernels run on one thread.
#   sh bench/kernel_instructions.sh build-before build
set -e
top=$(cd "$(dirname "$0")/.." && pwd)
[ $# -ge 1 ] || set -- build
out=$(mktemp -d)
printf "%-12s" case
for dir in "$@"; do printf " %28s" "$dir fwd / bwd"; done
echo
for case in Tanh Sigmoid LogSigmoid ELU pool24 pool8; do
  printf "%-12s" "$case"
  for dir in "$@"; do
    LUA_PATH="$top/lua/?.lua;$top/lua/?/init.lua;;" LUA_CPATH="$(cd "$dir" && pwd)/?.so;;" \
      valgrind --tool=callgrind --callgrind-out-file="$out/cg" --dump-instr=no \
      --toggle-collect=activation_forward --toggle-collect=activation_backward \
      --toggle-collect=maxpool2d_forward --toggle-collect=maxpool2d_backward \
      luajit "$top/bench/kernel_instructions.lua" "$case" >/dev/null 2>&1
    ir() { callgrind_annotate --inclusive=yes "$out/cg" 2>/dev/null | grep -E "[?]:$1 \\[" | awk '{print $1}'; }
    case $case in
      pool*) f=$(ir maxpool2d_forward) b=$(ir maxpool2d_backward) ;;
      *) f=$(ir activation_forward) b=$(ir activation_backward) ;;
    esac
    printf " %13s / %12s" "$f" "$b"
  done
  echo
done
rm -rf "$out"
