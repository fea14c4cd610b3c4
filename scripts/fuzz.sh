#!/usr/bin/env bash
# Coverage-guided fuzzing with cargo-fuzz (libFuzzer): each target in
# core/fuzz/fuzz_targets runs for SECONDS (default 60; CI runs 15).
#   journal: a real journal cut, edited (checksums fixed or not) or
#            replaced by arbitrary bytes, as journal or snapshot: the open is
#            Ok or a typed error, and a recovered ledger folds to its levels.
#   ops:     arbitrary sequences of the model test's operations against the
#            reference model: every result and level equal.
# Usage: scripts/fuzz.sh [SECONDS]
# Runs on the stable toolchain without a sanitizer (`-s none`: no nightly
# here); FUZZ_SANITIZER=address uses ASan where a nightly toolchain is the
# default. A finding is saved under core/fuzz/artifacts/<target>/ and the
# script fails; replay it with `cargo fuzz run <target> <file>` in core/fuzz.
set -euo pipefail
seconds="${1:-60}"
cd "$(dirname "$0")/../core/fuzz"
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "installing cargo-fuzz 0.13.2 from crates.io"
  cargo install cargo-fuzz --version 0.13.2 --locked
fi
sanitizer="${FUZZ_SANITIZER:-none}"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
for target in journal ops; do
  echo "fuzzing $target for ${seconds}s (sanitizer: $sanitizer)"
  mkdir -p "corpus/$target"
  if ! cargo fuzz run -O -s "$sanitizer" "$target" "corpus/$target" -- \
    -max_total_time="$seconds" -print_final_stats=1 >"$log" 2>&1; then
    tail -40 "$log" >&2
    echo "fuzz target $target failed (a finding is under core/fuzz/artifacts/$target/)" >&2
    exit 1
  fi
  grep -E "^(Done|stat::number_of_executed_units)" "$log"
done
