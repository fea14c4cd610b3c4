//! What recovery's 5M events/s asks of this machine: `replay_floor DIR`
//! replays the hold and release records of the journal `recovery_probe`
//! wrote in DIR the way a hand-written store would, on one thread, with
//! none of the engine: each record's crc32c checked and its fields decoded
//! (the strings checked as UTF-8), then one global `HashMap` of SKU name to
//! (on hand, reserved) checked and reserved like the naive baseline of the
//! hold benchmarks, and a `HashMap` of hold id to its lines so that a
//! release knows what to give back. No channels, ledger, KPIs, expiry or
//! retention of ended ids. The journal is read into memory before the
//! clock starts.
//!
//! The engine's own replay of the same journal is timed by
//! `recovery_probe DIR` (on a copy: its open compacts the journal); the
//! ratio of the two is the figure to compare with the hold benchmarks'
//! ratio to the naive lock.
use std::collections::HashMap;
use std::time::Instant;

struct Bytes<'a>(&'a [u8]);

impl<'a> Bytes<'a> {
    fn take(&mut self, n: usize) -> &'a [u8] {
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        a
    }
    fn u8(&mut self) -> u8 {
        self.take(1)[0]
    }
    fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.take(8).try_into().unwrap())
    }
    fn str(&mut self) -> &'a str {
        let n = self.u64() as usize;
        std::str::from_utf8(self.take(n)).expect("UTF-8")
    }
}

fn main() {
    let dir = std::path::PathBuf::from(std::env::args().nth(1).expect("DIR"));
    let mut segments: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    segments.sort();
    let bytes: Vec<Vec<u8>> = segments.iter().map(|p| std::fs::read(p).unwrap()).collect();
    let mut stock: HashMap<String, (i64, i64)> = (0..10_000)
        .map(|i| (format!("sku-{i:05}"), (1_000_000_000, 0)))
        .collect();
    let mut holds: HashMap<String, Vec<(String, i64)>> = HashMap::new();
    let (mut events, mut refused) = (0u64, 0u64);
    let t = Instant::now();
    for seg in &bytes {
        let mut pos = 8; // the segment's magic
        while pos + 8 <= seg.len() {
            let len = u32::from_le_bytes(seg[pos..pos + 4].try_into().unwrap()) as usize;
            let crc = u32::from_le_bytes(seg[pos + 4..pos + 8].try_into().unwrap());
            let payload = &seg[pos + 8..pos + 8 + len];
            assert_eq!(crc32c::crc32c(payload), crc, "checksum at {pos}");
            pos += 8 + len;
            let mut r = Bytes(payload);
            let (_first, _last, _at) = (r.u64(), r.u64(), r.u64());
            match r.u8() {
                10 | 40 => {
                    let id = r.str();
                    let _channel = r.str();
                    let _ttl = r.u64();
                    let n = r.u64() as usize;
                    let mut lines = Vec::with_capacity(n);
                    for _ in 0..n {
                        let sku = r.str();
                        let (qty, _scale) = (r.u64() as i64, r.u8());
                        if r.u8() == 1 {
                            r.str();
                        }
                        lines.push((sku, qty));
                    }
                    if lines.iter().all(|&(sku, q)| {
                        let s = stock[sku];
                        s.0 - s.1 >= q
                    }) {
                        let kept = lines
                            .iter()
                            .map(|&(sku, q)| {
                                stock.get_mut(sku).unwrap().1 += q;
                                (sku.to_string(), q)
                            })
                            .collect();
                        holds.insert(id.to_string(), kept);
                        events += n as u64;
                    } else {
                        refused += 1;
                    }
                }
                11 => {
                    let id = r.str();
                    if let Some(lines) = holds.remove(id) {
                        for (sku, q) in &lines {
                            stock.get_mut(sku.as_str()).unwrap().1 -= q;
                        }
                        events += lines.len() as u64;
                    }
                }
                _ => {}
            }
        }
    }
    let s = t.elapsed().as_secs_f64();
    println!(
        "{events} events ({refused} refused) in {:.0} ms: {:.0} events/s",
        s * 1e3,
        events as f64 / s
    );
}
