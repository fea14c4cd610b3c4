#!/usr/bin/env bash
# Long runs of the randomized harnesses, outside CI.
# Usage: scripts/stress.sh [size]   (size 1 = what CI runs; 100 = ~25,600 model sequences)
set -euo pipefail
size="${1:-10}"
cd "$(dirname "$0")/.."
echo "model-based: $((size * 256)) sequences"
PROPTEST_CASES=$((size * 256)) cargo test --release -q -p unistock --test model
echo "real threads: stress x$size"
UNISTOCK_STRESS="$size" cargo test --release -q -p unistock --test concurrency
