#!/usr/bin/env bash
# Exhaustive model checking with loom (core/tests/loom.rs): every
# interleaving of the engine's locks for 2-3 threads, on the scenarios
# shuttle samples (core/tests/races). The crate is built with `--cfg loom`,
# which swaps its locks for loom's (core/src/sync.rs), in a target
# directory of its own so that the normal build's cache stays valid.
# Usage: scripts/loom.sh [CROSSED_CARTS]  (2, the default and CI's, or 3:
# the crossed multi-line holds with three carts, about two minutes)
set -euo pipefail
cd "$(dirname "$0")/.."
export UNISTOCK_LOOM_CROSSED_CARTS="${1:-2}"
RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom \
  cargo test --release -p unistock --test loom
