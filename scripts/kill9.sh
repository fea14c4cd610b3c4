#!/usr/bin/env bash
# kill -9 recovery, many rounds: scripts/kill9.sh [ROUNDS] (default 200).
# Each round starts a child that makes durable holds, commits, releases and
# till sales, SIGKILLs it at a random moment, reopens the directory and checks
# every acknowledged change and every retry. CI runs 3 rounds.
set -euo pipefail
cd "$(dirname "$0")/.."
UNISTOCK_KILL_ROUNDS="${1:-200}" cargo test --release -p unistock --test kill9 \
  acknowledged_changes_survive_kill_9 -- --nocapture
