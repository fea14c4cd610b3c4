#!/usr/bin/env bash
# Every test in every language, from a fresh clone. `make test` and .ci/run call this.
set -euo pipefail
cd "$(dirname "$0")/.."
step() { printf '\n== %s ==\n' "$*"; }

step "format"
cargo fmt --all -- --check
step "clippy (warnings are errors)"
cargo clippy --workspace --all-targets -- -D warnings
step "core API docs (warnings are errors: broken or private links)"
RUSTDOCFLAGS="-D warnings" cargo doc -p unistock --no-deps
step "Rust tests (unit, operations, model-based, concurrency, cross-crate, doctests)"
cargo test --workspace
step "concurrency, linearizable stress and simulation in release (real contention, 240 seeds)"
cargo test --release -p unistock --test concurrency --test linearizable
UNISTOCK_SIM_SEEDS=240 cargo test --release -p unistock --test simulation
step "model checking with shuttle (every lock a switch point; 1,000 PCT and 1,000 random schedules per scenario)"
bash scripts/shuttle.sh 1000
step "exhaustive model checking with loom (every interleaving of the locks; 3 carts for the last unit, 2 crossing their lines)"
bash scripts/loom.sh 2
step "coverage-guided fuzzing, 15 s per target (cargo-fuzz, installed if missing)"
bash scripts/fuzz.sh 15
step "benchmarks compile"
cargo bench --workspace --no-run
step "the hold benchmarks run once each (their own checks: every timed hold is a new hold)"
cargo bench -q -p unistock --bench holds -- --test
step "the demo keeps its invariants"
cargo run --release -q -p unistock-examples --bin omnichannel_day -- 5000 4
step "the peer benchmark's correctness check, unistock side (10,000 units, 20,000 attempts, 32 threads)"
granted=$(cargo run --release -q -p unistock --example peer_local -- unistock check 32 0 | sed 's/.*"granted": \([0-9]*\).*/\1/')
[ "$granted" = 10000 ] || { echo "granted $granted of 10,000 units" >&2; exit 1; }

# Python: the package is built from source and installed the way a user
# does it (`pip install ./bindings-python`), into a venv this script makes.
PY="${PYTHON:-python3}"
step "Python: venv and pip install ./bindings-python[test]"
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q "./bindings-python[test]"
step "Python: the type stub matches the module (mypy.stubtest)"
.venv/bin/python -m mypy.stubtest unistock._core
step "Python: pytest (behaviours, bad input, model-based, threads, FastAPI example, README)"
(cd bindings-python && ../.venv/bin/python -m pytest -q -p no:cacheprovider)
step "Python: the demo keeps its invariants"
.venv/bin/python examples/python/omnichannel_day.py 3000 4

# Node: built with the napi CLI from the committed lockfile; the generated
# index.js and index.d.ts are committed and must not change on a rebuild.
step "Node: npm install and napi build"
(cd bindings-node && npm install --no-audit --no-fund --silent && npx napi build --platform --release)
step "Node: the generated index.js / index.d.ts are fresh"
if [ -n "$(git status --porcelain -- bindings-node/index.js bindings-node/index.d.ts)" ]; then
  git --no-pager diff -- bindings-node/index.js bindings-node/index.d.ts
  echo "napi build changed the committed bindings: commit the regenerated files" >&2
  exit 1
fi
step "Node: tsc --strict on a TypeScript user of the API"
(cd bindings-node && npx tsc -p tsconfig.json)
step "Node: node --test (behaviours, bad input, fast-check model, panic, examples)"
(cd bindings-node && node --test test/*.test.js)
step "Node: npm pack into an empty project, require and import, README quick start"
bash scripts/node-pack-check.sh
step "Node: the demo keeps its invariants"
node examples/js/omnichannel_day.js 3000 4
