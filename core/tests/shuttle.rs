//! Model checking: shuttle runs 2-6 threads against one engine and
//! explores their interleavings at every lock (the crate built with
//! `--cfg shuttle` takes its locks from shuttle, see `src/sync.rs`), with
//! PCT (probabilistic concurrency testing, which finds a bug of depth d
//! with a known probability per run) and uniformly random schedules.
//!
//! `scripts/shuttle.sh [ITERATIONS]` runs it (CI: the default, 1,000 per
//! scenario and scheduler). A failure prints the schedule to replay.
//!
//! The scenarios are `tests/races`, which `tests/loom.rs` runs too
//! (exhaustively, with fewer threads): here six carts race for the last
//! unit and three cross their lines.
#![cfg(shuttle)]

mod races;

use std::sync::Arc;

fn iterations() -> usize {
    std::env::var("UNISTOCK_SHUTTLE_ITERATIONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000)
}

/// Runs `body` under PCT (depth 3) and under random schedules.
fn check(body: impl Fn() + Send + Sync + 'static) {
    let body = Arc::new(body);
    let b = body.clone();
    shuttle::check_pct(move || b(), iterations(), 3);
    shuttle::check_random(move || body(), iterations());
}

#[test]
fn the_last_unit_goes_to_one_cart() {
    check(|| races::the_last_unit_goes_to_one_cart(6));
}

#[test]
fn crossed_multi_line_holds_never_deadlock_or_hold_part() {
    check(|| races::crossed_multi_line_holds_never_deadlock_or_hold_part(3));
}

#[test]
fn a_commit_racing_the_expiry_sweep_ends_the_hold_once() {
    check(races::a_commit_racing_the_expiry_sweep_ends_the_hold_once);
}

#[test]
fn a_retry_racing_its_original_makes_one_hold() {
    check(races::a_retry_racing_its_original_makes_one_hold);
}
