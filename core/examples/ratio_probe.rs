//! Issue 2's one-thread ratio, measured so that the host's speed cancels
//! out: single-line hold+release pairs over 100,000 SKUs (the criterion
//! bench's uniform workload: the same rig, stride and id reuse) and the
//! same check-and-reserve on the bench's naive `Mutex<HashMap>`, in
//! alternating slices, each after an untimed pass over every SKU. The
//! criterion bench times the two minutes apart, and on this shared host the
//! naive lock alone moved from 147 to 389 ns a pair between runs; here each
//! round's ratio compares slices a second apart, and the median over the
//! rounds is printed.
//!
//! `cargo run --release -p unistock --example ratio_probe -- [PAIRS] [ROUNDS]`
//! (defaults: 500,000 pairs per slice, 9 rounds). `HOT=1` adds the hot-SKU
//! pair (every hold on one SKU) for reference.
use std::sync::Arc;
use std::time::Instant;
use unistock::*;

#[path = "../benches/common/holds_rig.rs"]
mod holds_rig;
use holds_rig::{Naive, stock_shop};

const SKUS: usize = 100_000;

/// Nanoseconds a pair over `n` pairs of `pair(k)`, `k` striding over the
/// SKUs as in the bench (`k` carries over between slices). An untimed pass
/// over every SKU comes first: the other side's slice has evicted this
/// side's tables, and criterion too times each side warm.
fn time(n: usize, k: &mut usize, mut pair: impl FnMut(usize)) -> f64 {
    for _ in 0..SKUS {
        *k = (*k + 7919) % SKUS;
        pair(*k);
    }
    let t = Instant::now();
    for _ in 0..n {
        *k = (*k + 7919) % SKUS;
        pair(*k);
    }
    t.elapsed().as_nanos() as f64 / n as f64
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let mut args = std::env::args()
        .skip(1)
        .map(|a| a.parse::<usize>().unwrap());
    let n = args.next().unwrap_or(500_000);
    let rounds = args.next().unwrap_or(9).max(1);
    let hot = std::env::var_os("HOT").is_some();

    let clock = Arc::new(ManualClock::new(1_700_000_000_000));
    let config = Config {
        hold_retention_ms: 1_000,
        ..Config::with_clock(clock.clone())
    };
    let e = Engine::with_config(config);
    let names = stock_shop(&e, SKUS);
    let naive = Naive::new(&names);
    let ids: Vec<String> = (0..1 << 16).map(|i| format!("h{i:x}")).collect();
    let mut i = 0usize;
    // One pair on the engine, as the bench's `hold_release`: ids cycle, and
    // the clock lets a round of ids lapse before they come back.
    let mut ours = |sku: &str| {
        let id = &ids[i & 0xffff];
        i += 1;
        if i & 0xffff == 0 {
            clock.advance(2_000);
        }
        let lines = [HoldLine::new(sku, 1)];
        e.hold(&HoldRequest::new(id, "web", &lines, 900_000))
            .unwrap();
        e.release(id).unwrap();
    };
    let bare = |sku: &str| {
        assert!(naive.hold(sku, 1));
        naive.release(sku, 1);
    };

    let mut k = 0usize;
    let (mut us, mut them, mut ratios, mut hots) = (vec![], vec![], vec![], vec![]);
    for round in 0..rounds {
        // The order alternates, so neither side always runs first.
        let (u, b) = if round % 2 == 0 {
            let u = time(n, &mut k, |k| ours(&names[k]));
            (u, time(n, &mut k, |k| bare(&names[k])))
        } else {
            let b = time(n, &mut k, |k| bare(&names[k]));
            (time(n, &mut k, |k| ours(&names[k])), b)
        };
        print!(
            "round {round:>2}: unistock {u:>6.0} ns, naive lock {b:>5.0} ns, ratio {:.3}x",
            b / u
        );
        if hot {
            let h = time(n, &mut k, |_| ours(&names[0]));
            print!(", unistock hot SKU {h:>5.0} ns");
            hots.push(h);
        }
        println!();
        us.push(u);
        them.push(b);
        ratios.push(b / u);
    }
    let (lo, hi) = ratios
        .iter()
        .fold((f64::MAX, 0f64), |(lo, hi), &r| (lo.min(r), hi.max(r)));
    println!(
        "median over {rounds} rounds of {n} pairs: unistock {:.0} ns a pair, naive lock {:.0} ns, ratio {:.3}x (rounds {lo:.3}-{hi:.3}x; target 0.4x)",
        median(&mut us),
        median(&mut them),
        median(&mut ratios),
    );
    if hot {
        println!("unistock hot SKU: {:.0} ns a pair", median(&mut hots));
    }
}
