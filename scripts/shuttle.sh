#!/usr/bin/env bash
# Model checking with shuttle (core/tests/shuttle.rs): 2-3 threads against
# one engine, their interleavings explored at every lock, with PCT and with
# random schedules, ITERATIONS of each per scenario (default 1,000; CI runs
# the default). The crate is built with `--cfg shuttle`, which swaps its
# locks for shuttle's (core/src/sync.rs), in a target directory of its own
# so that the normal build's cache stays valid.
# Usage: scripts/shuttle.sh [ITERATIONS]
# A failure prints the failing schedule; SHUTTLE_CAPTURE_BACKTRACE=1 adds
# each task's backtrace.
set -euo pipefail
cd "$(dirname "$0")/.."
export UNISTOCK_SHUTTLE_ITERATIONS="${1:-1000}"
RUSTFLAGS="--cfg shuttle" CARGO_TARGET_DIR=target/shuttle \
  cargo test --release -p unistock --test shuttle
