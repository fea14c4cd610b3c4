//! kill -9 recovery: the test re-runs itself as a child process that makes
//! holds, commits, releases and till sales on a durable engine (`sync`)
//! and reports each acknowledgement on stdout; the parent kills it with
//! SIGKILL at a random moment, reopens the directory and checks that every
//! acknowledged change is there and that retried ids return their original
//! results. `UNISTOCK_KILL_ROUNDS` sets the number of rounds (CI: 3;
//! `scripts/kill9.sh N` runs many).

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;
use unistock::*;

const WEB: &str = "web";
const SKUS: usize = 8;

fn config() -> Config {
    Config {
        ledger_retention: None,
        ..Config::default()
    }
}

fn hold_lines(i: u64) -> (String, u64) {
    (format!("s{}", i % SKUS as u64), 1 + i % 3)
}

/// The child: runs until killed.
#[test]
fn kill9_child() {
    let Ok(dir) = std::env::var("UNISTOCK_KILL9_DIR") else {
        return;
    };
    let round: u64 = std::env::var("UNISTOCK_KILL9_ROUND")
        .unwrap()
        .parse()
        .unwrap();
    let e = Arc::new(Engine::open(&dir, config(), DurableOptions::mode(Durability::Sync)).unwrap());
    e.upsert_location(LocationSpec::warehouse("wh")).unwrap();
    e.upsert_channel(ChannelSpec::new(WEB, ["wh"])).unwrap();
    for s in 0..SKUS {
        e.receive(&format!("s{s}"), "wh", 100_000.into(), Note::default())
            .unwrap();
    }
    let out = Arc::new(parking_lot::Mutex::new(std::io::stdout()));
    let ack = |out: &parking_lot::Mutex<std::io::Stdout>, line: String| {
        let mut o = out.lock();
        writeln!(o, "{line}").unwrap();
        o.flush().unwrap();
    };
    // Two threads, so that group commit and out-of-order records happen.
    let threads: Vec<_> = (0..2u64)
        .map(|t| {
            let (e, out) = (e.clone(), out.clone());
            std::thread::spawn(move || {
                for i in 0u64.. {
                    let id = format!("r{round}-t{t}-{i}");
                    let (sku, qty) = hold_lines(i);
                    let lines = [HoldLine::new(&sku, qty)];
                    match i % 7 {
                        6 => {
                            e.till_sale(&format!("sale-{id}"), WEB, &lines).unwrap();
                            ack(&out, format!("ack sale sale-{id} {sku} {qty}"));
                        }
                        5 => {
                            let ids: Vec<String> = (0..4).map(|k| format!("{id}-b{k}")).collect();
                            let reqs: Vec<HoldRequest<'_>> = ids
                                .iter()
                                .map(|h| HoldRequest::new(h, WEB, &lines, 3_600_000))
                                .collect();
                            for (h, r) in ids.iter().zip(e.hold_batch(&reqs)) {
                                r.unwrap();
                                ack(&out, format!("ack hold {h} {sku} {qty}"));
                            }
                        }
                        _ => {
                            e.hold(&HoldRequest::new(&id, WEB, &lines, 3_600_000))
                                .unwrap();
                            ack(&out, format!("ack hold {id} {sku} {qty}"));
                            if i % 3 == 0 {
                                e.commit(&id, &format!("o-{id}")).unwrap();
                                ack(&out, format!("ack commit {id} o-{id}"));
                            } else if i % 3 == 1 {
                                e.release(&id).unwrap();
                                ack(&out, format!("ack release {id}"));
                            }
                        }
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

#[test]
fn acknowledged_changes_survive_kill_9() {
    let rounds: u64 = common::env_or("UNISTOCK_KILL_ROUNDS", 3);
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("kill -9 seed {seed}");
    let mut total_acks = 0;
    for round in 0..rounds {
        let mut child = Command::new(&exe)
            .args(["kill9_child", "--exact", "--nocapture", "--test-threads=1"])
            .env("UNISTOCK_KILL9_DIR", dir.path())
            .env("UNISTOCK_KILL9_ROUND", round.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (first, first_ack) = std::sync::mpsc::channel::<()>();
        let reader = std::thread::spawn(move || {
            let mut acks = Vec::new();
            for l in BufReader::new(stdout).lines().map_while(|l| l.ok()) {
                if l.starts_with("ack ") {
                    if acks.is_empty() {
                        let _ = first.send(());
                    }
                    acks.push(l);
                }
            }
            acks
        });
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        // The kill lands at a random moment once the child works: its open
        // (recovery of every earlier round) takes longer as rounds add up,
        // past a fixed delay's shortest after about 80 rounds.
        let spawned = std::time::Instant::now();
        let started = first_ack.recv_timeout(Duration::from_secs(120)).is_ok();
        if round % 50 == 49 {
            eprintln!(
                "round {round}: first acknowledgement after {:?}",
                spawned.elapsed()
            );
        }
        std::thread::sleep(Duration::from_millis(seed % 400));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let acks = reader.join().unwrap();
        assert!(
            started,
            "round {round}: the child acknowledged nothing in 2 minutes"
        );
        total_acks += acks.len();

        let e = Engine::open(dir.path(), config(), DurableOptions::mode(Durability::Sync)).unwrap();
        assert!(
            e.verify_ledger().unwrap(),
            "round {round}: the ledger does not fold to the levels"
        );
        for line in &acks {
            let parts: Vec<&str> = line.split(' ').collect();
            match parts[1] {
                "hold" => {
                    let (id, sku, qty) = (parts[2], parts[3], parts[4].parse::<u64>().unwrap());
                    let info = e
                        .hold_info(id)
                        .unwrap_or_else(|err| panic!("round {round}: {line}: {err}"));
                    assert_ne!(info.state, HoldState::Expired, "{line}");
                    // A retry returns the original receipt.
                    let lines = [HoldLine::new(sku, qty)];
                    let again = e
                        .hold(&HoldRequest::new(id, WEB, &lines, 3_600_000))
                        .unwrap_or_else(|err| panic!("round {round}: retry {line}: {err}"));
                    assert!(again.replayed, "{line}");
                }
                "commit" => {
                    let (hold, order) = (parts[2], parts[3]);
                    assert_eq!(
                        e.hold_info(hold).unwrap().state,
                        HoldState::Committed,
                        "{line}"
                    );
                    assert!(e.commit(hold, order).unwrap().replayed, "{line}");
                }
                "release" => {
                    assert_eq!(
                        e.hold_info(parts[2]).unwrap().state,
                        HoldState::Released,
                        "{line}"
                    );
                }
                "sale" => {
                    let (sale, sku, qty) = (parts[2], parts[3], parts[4].parse::<u64>().unwrap());
                    let lines = [HoldLine::new(sku, qty)];
                    assert!(e.till_sale(sale, WEB, &lines).unwrap().replayed, "{line}");
                }
                other => panic!("unknown ack {other}"),
            }
        }
        drop(e);
    }
    eprintln!("kill -9: {rounds} rounds, {total_acks} acknowledged changes all recovered");
}
