#!/bin/sh
# Data-parallel training on one machine: images/s of `mpirun -np 2` x 1 thread per rank against one
# process x 2 threads (the target: >= 90%), the default model, the same global batch (64), and the
# all-reduce's time per step and share of the step (from the run's metrics.jsonl). The two kinds
# of run alternate, R rounds of each (3), so a change of load hits both; each reads the
# images/s of its one epoch (STEPS steps of 64 images, 60 by default; every step counted).
# Then bench/mpi_allreduce.c: the gradient's sum as one blocking call against non-blocking buckets
# overlapped with BACKWARD_MS (20) of the backward pass.
#   MNIST_MIRROR=../shared/data/mnist sh bench/mpi.sh [R]      (from the checkout, after `make`)
set -u
rounds=${1:-3}
steps=${STEPS:-60}
[ -n "${MNIST_MIRROR:-}" ] || { echo "bench/mpi.sh: set MNIST_MIRROR to the local MNIST mirror" >&2; exit 2; }
command -v mpirun >/dev/null || { echo "bench/mpi.sh: mpirun not found: apt-get install openmpi-bin libopenmpi-dev (make deps), then make" >&2; exit 2; }
[ -f build/mnist/mpi.so ] || { echo "bench/mpi.sh: build/mnist/mpi.so missing: make (with libopenmpi-dev installed)" >&2; exit 2; }
export MNIST_MIRROR
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat > "$work/bench.yml" <<YML
epochs: 1
limit_train: $((steps * 64 + 50))
n_validation: 50
limit_test: 100
log_interval: 1000
YML
cat > "$work/summary.lua" <<'LUA'
local f = assert(io.open(arg[1]))
local r = require("cjson").decode(f:read("*l"))
io.write(("%-22s %8.1f images/s  all-reduce %s\n"):format(arg[2], r.images_per_s,
  r.allreduce_ms_per_step and ("%.2f ms/step, %.1f%% of the step (waiting for the slowest rank: %.2f ms/step)"):format(
    r.allreduce_ms_per_step, 100 * r.allreduce_share, r.rank_wait_ms_per_step) or "-"))
LUA
# one run: $1 = label, $2 = threads per process, then the command up to bin/mnist.lua
run() {
  label=$1; threads=$2; shift 2
  home=$(mktemp -d "$work/home.XXXXXX")
  MNIST_HOME=$home "$@" train "$work/bench.yml" --threads "$threads" > "$home/log" 2>&1 || { echo "$label failed:" >&2; cat "$home/log" >&2; exit 1; }
  luajit "$work/summary.lua" "$(ls "$home"/runs/*/metrics.jsonl)" "$label" | tee -a "$work/results"
  rm -rf "$home"
}
echo "$(nproc) CPUs, $(lscpu | sed -n 's/^Model name: *//p'), $steps steps of 64 per run; load: $(cut -d' ' -f1-3 /proc/loadavg)"
i=1
while [ "$i" -le "$rounds" ]; do
  run "1 process x 2 threads" 2 luajit bin/mnist.lua
  run "2 ranks x 1 thread" 1 mpirun --allow-run-as-root --oversubscribe -x MNIST_MIRROR -x MNIST_HOME -np 2 luajit bin/mnist.lua
  i=$((i + 1))
done
# one call per step or buckets overlapped with the backward pass (bench/mpi_allreduce.c)
mpicc -O2 -o "$work/mpi_allreduce" bench/mpi_allreduce.c &&
  mpirun --allow-run-as-root --oversubscribe -np 2 "$work/mpi_allreduce" "${BACKWARD_MS:-20}"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
awk '/^1 process/ { a += $6; na++ } /^2 ranks/ { b += $6; nb++ }
     END { if (na && nb) printf "mean: 1 process %.1f images/s, 2 ranks %.1f images/s: %.1f%%\n", a / na, b / nb, 100 * (b / nb) / (a / na) }' "$work/results"
