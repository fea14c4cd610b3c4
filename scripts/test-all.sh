#!/usr/bin/env bash
# Every test in every language, from a fresh clone. `make test` and .ci/run call this.
set -euo pipefail
cd "$(dirname "$0")/.."
step() { printf '\n== %s ==\n' "$*"; }

step "format"
cargo fmt --all -- --check
step "clippy (warnings are errors)"
cargo clippy --workspace --all-targets -- -D warnings
step "Rust tests (unit, operations, model-based, concurrency, cross-crate, doctests)"
cargo test --workspace
step "concurrency tests in release (real contention)"
cargo test --release -p unistock --test concurrency
step "benchmarks compile"
cargo bench --workspace --no-run
step "the demo keeps its invariants"
cargo run --release -q -p unistock-examples --bin omnichannel_day -- 5000 4
# The Python and Node packages (issues 3 and 4) add their steps here.
