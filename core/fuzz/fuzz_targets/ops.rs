//! Fuzzing the operations: an arbitrary sequence of the model test's
//! operations (quantities anywhere in i64, not only near the edges) runs on
//! the engine and on the reference model; every result, every level and
//! every channel's availability must agree after each one, and the ledger
//! must fold to the levels at the end. A panic anywhere is a finding.

#![no_main]

#[path = "../../tests/common/mod.rs"]
mod common;

use arbitrary::{Result, Unstructured};
use common::refmodel::*;
use libfuzzer_sys::fuzz_target;
use std::sync::Arc;
use unistock::{Engine, ManualClock};

fn qty(u: &mut Unstructured<'_>) -> Result<i64> {
    Ok(match u.int_in_range(0..=9)? {
        0..=4 => u.int_in_range(1..=5)?,
        5 => 0,
        6 => -1,
        7 => HUGE,
        8 => 1_000_000_000_000_000,
        _ => u.arbitrary()?,
    })
}

fn op(u: &mut Unstructured<'_>) -> Result<Op> {
    let s = u.int_in_range(0..=2)?;
    let l = u.int_in_range(0..=2)?;
    let id = u.int_in_range(0..=3)?;
    Ok(match u.int_in_range(0..=12)? {
        0 => Op::Receive(s, l, qty(u)?),
        1 => Op::Count(s, l, qty(u)?),
        2 => Op::WriteOff(s, l, qty(u)?),
        3 | 4 => {
            let n = u.int_in_range(1..=3)?;
            let mut lines = Vec::new();
            for _ in 0..n {
                let pin = if u.ratio(1, 3)? {
                    Some(u.int_in_range(0..=2)?)
                } else {
                    None
                };
                lines.push((u.int_in_range(0..=2)?, qty(u)?, pin));
            }
            Op::Hold {
                id,
                chan: u.int_in_range(0..=1)?,
                lines,
                ttl: *u.choose(&[0, 1, 1_000, 60_000])?,
            }
        }
        5 => Op::Release(id),
        6 => Op::Commit(id, u.int_in_range(0..=3)?),
        7 => Op::Fulfil(id, s, qty(u)?),
        8 => Op::Cancel(id, s, qty(u)?),
        9 => Op::TillSale(id, s, qty(u)?),
        10 => Op::Advance(*u.choose(&[1, 999, 1_000, 60_000])?),
        11 => Op::Rewind(*u.choose(&[1, 500, 30_000])?),
        _ => Op::SnapshotRestore,
    })
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let clock = Arc::new(ManualClock::new(common::T0));
    let mut engine = Engine::with_config(config(&clock));
    setup(&engine);
    let mut model = Model {
        now: common::T0,
        ..Model::default()
    };
    while !u.is_empty() {
        let Ok(op) = op(&mut u) else { break };
        let want = model.apply(&op);
        let got = run(&mut engine, &clock, &op);
        assert_eq!(got, want, "result of {op:?}");
        assert_state(&engine, &model, &op);
    }
    common::assert_ledger_folds(&engine);
});
