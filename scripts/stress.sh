#!/usr/bin/env bash
# Long runs of the randomized harnesses, outside CI.
# Usage: scripts/stress.sh [size]   (size 1 = what CI runs; 100 = ~25,600 model sequences)
set -euo pipefail
size="${1:-10}"
cd "$(dirname "$0")/.."
echo "model-based: $((size * 256)) sequences"
PROPTEST_CASES=$((size * 256)) cargo test --release -q -p unistock --test model
echo "pool holds against brute force: $((size * 256)) sequences"
PROPTEST_CASES=$((size * 256)) cargo test --release -q -p unistock --test pool
echo "real threads: stress x$size"
UNISTOCK_STRESS="$size" cargo test --release -q -p unistock --test concurrency
echo "linearizable stress: 6 threads x $((size * 1500)) calls"
UNISTOCK_STRESS="$size" cargo test --release -q -p unistock --test linearizable
echo "linearizable stress: 64 threads x $((1500 * ((size + 9) / 10))) calls"
UNISTOCK_LIN_THREADS=64 UNISTOCK_STRESS=$(((size + 9) / 10)) cargo test --release -q -p unistock --test linearizable
echo "recovery fuzzing: $((size * 256)) cases each"
UNISTOCK_FUZZ_CASES=$((size * 256)) cargo test --release -q -p unistock --test durability fuzz
echo "durable lockstep with restarts, kills and checkpoints: $((size * 64)) sequences"
UNISTOCK_LOCKSTEP_CASES=$((size * 64)) cargo test --release -q -p unistock --test durability lockstep
echo "deterministic simulation: $((size * 48)) seeds x 300 steps"
UNISTOCK_SIM_SEEDS=$((size * 48)) cargo test --release -q -p unistock --test simulation
echo "model checking with shuttle: $((size * 1000)) PCT and random schedules per scenario"
bash scripts/shuttle.sh $((size * 1000))
echo "exhaustive model checking with loom: three carts crossing their lines (323,166 schedules)"
bash scripts/loom.sh 3
echo "kill -9: $((size * 4)) rounds"
bash scripts/kill9.sh $((size * 4))
if [ -x .venv/bin/python ]; then
  echo "Python: hypothesis x$size, 32 threads x$((size * 200)) rounds"
  (cd bindings-python && UNISTOCK_HYPOTHESIS_EXAMPLES=$((size * 60)) UNISTOCK_PY_ROUNDS=$((size * 200)) \
    ../.venv/bin/python -m pytest -q -p no:cacheprovider tests/test_model.py tests/test_threads.py)
fi
if [ -d bindings-node/node_modules ]; then
  echo "Node: fast-check x$size"
  (cd bindings-node && UNISTOCK_FC_RUNS=$((size * 100)) node --test test/model.test.js)
fi
