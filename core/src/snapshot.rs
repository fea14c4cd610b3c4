//! Snapshot and restore of the whole state, through serde.
//!
//! A snapshot is a consistent cut: it is taken with every table and stripe
//! locked. Restoring it gives an engine whose snapshot is equal again and
//! whose retained ledger folds to the same levels.

use crate::channel::Channel;
use crate::engine::{Config, Engine};
use crate::error::{Error, Result};
use crate::hold::{HoldRec, HoldState, shard_index};
use crate::ids::{Key, LocationId};
use crate::kpi::Kpis;
use crate::ledger::Event;
use crate::location::Location;
use crate::order::OrderRec;
use crate::sku::SkuSpec;
use crate::stock::SkuStock;
use crate::topology::Topology;
use crate::transfer::TransferRec;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// 2: hold records' request digests are `hold::fingerprint`'s second form
/// (format 1's cannot be told from a changed retry, so it is refused).
/// 3: `observed`, the times reconciliations were applied as of (a format 2
/// snapshot is read as having none).
/// 4: `reservations`, click & reserve orders' hours at their store and when
/// they end (older snapshots are read as having none: their click & reserve
/// orders stay allocated until settled, as they did).
const FORMAT: u32 = 4;

/// The whole state of an engine. Serialize it with any serde format.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    format: u32,
    seq: u64,
    ledger_floor: u64,
    skus: Vec<(Key, SkuStock)>,
    locations: Vec<Location>,
    channels: Vec<Option<Channel>>,
    holds: Vec<(Key, HoldRec)>,
    orders: Vec<(Key, OrderRec)>,
    transfers: Vec<(Key, TransferRec)>,
    kpis: Kpis,
    ledger: Vec<Event>,
    /// Orders taken per location today (daily capacities).
    #[serde(default)]
    picks: Vec<(u64, u32)>,
    /// (index in `skus`, location, time): the latest "as of" time a
    /// reconciliation applied at that SKU and location.
    #[serde(default)]
    observed: Vec<(u32, LocationId, u64)>,
    /// (order, hours, end): a click & reserve order's hours at its store
    /// and when they end (`None` while units are still backordered).
    #[serde(default)]
    reservations: Vec<(Key, u32, Option<u64>)>,
}

/// Decodes a snapshot's bincode body, of this format or formats 2 and 3.
/// Bincode writes the fields in order, without names, so a field added at
/// the end is missing from older bodies rather than defaulted: an older
/// body is read followed by an empty list (its length, a zero `u64`) for
/// each list added since (`observed` in 3, `reservations` in 4).
pub(crate) fn from_bincode(body: &[u8]) -> bincode::Result<Snapshot> {
    let added = match body
        .get(..4)
        .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")))
    {
        Some(2) => 2,
        Some(3) => 1,
        _ => return bincode::deserialize(body),
    };
    let empty = [0u8; 16];
    bincode::deserialize_from(std::io::Read::chain(body, &empty[..8 * added]))
}

impl Snapshot {
    /// The last sequence number the snapshot includes.
    pub fn seq(&self) -> u64 {
        self.seq
    }
}

impl Engine {
    /// A consistent copy of the whole state.
    ///
    /// Locking: the transfer table, every hold shard, every order shard,
    /// every stripe (in that order): writers pause for the copy.
    pub fn snapshot(&self) -> Snapshot {
        self.snapshot_cut(|| ()).0
    }

    /// A snapshot, and `at_cut` run while every lock is still held (the
    /// journal starts a new segment there).
    pub(crate) fn snapshot_cut<R>(&self, at_cut: impl FnOnce() -> R) -> (Snapshot, R) {
        let transfers = self.transfers.lock();
        let hold_guards: Vec<_> = self.holds.iter().map(|s| s.0.lock()).collect();
        let order_guards: Vec<_> = self.orders.iter().map(|s| s.0.lock()).collect();
        let stripes = self.lock_all_stripes();
        let topo = self.topo.load();
        let names = self.skus.all();
        let skus: Vec<(Key, SkuStock)> = names
            .iter()
            .enumerate()
            .map(|(i, (name, _))| {
                let (stripe, slot) = self.stripe_slot(crate::SkuId(i as u32));
                (name.clone(), stripes[stripe].skus[slot].clone())
            })
            .collect();
        let mut kpis = Kpis::default();
        for s in &stripes {
            kpis.add(&s.kpi);
        }
        let mut ledger = Vec::new();
        let mut ledger_floor = 0;
        for s in &stripes {
            ledger_floor = ledger_floor.max(s.log.floor());
            s.log.read_into(0, &self.reasons, &mut ledger);
        }
        let meta = self.meta_log.lock();
        ledger_floor = ledger_floor.max(meta.floor());
        meta.read_into(0, &self.reasons, &mut ledger);
        // Every stripe is locked and meta-events are numbered under the
        // meta-log lock: nothing is numbered but not yet appended.
        let seq = self.seq.0.load(Ordering::Acquire);
        let picks = self.picks.lock().clone();
        let cut = at_cut();
        drop(meta);
        let observed = observed_of(&skus);
        let mut reservations: Vec<(Key, u32, Option<u64>)> = order_guards
            .iter()
            .flat_map(|o| {
                o.map
                    .iter()
                    .filter_map(|(k, v)| v.reserve_hours.map(|h| (k.clone(), h, v.reserved_until)))
            })
            .collect();
        // Copy under the locks; sort after releasing them (writers wait
        // only for the copy).
        let holds: Vec<(Key, HoldRec)> = hold_guards
            .iter()
            .flat_map(|h| h.records().map(|(k, v)| (k.clone(), v.clone())))
            .collect();
        let orders: Vec<(Key, OrderRec)> = order_guards
            .iter()
            .flat_map(|o| o.map.iter().map(|(k, v)| (k.clone(), v.clone())))
            .collect();
        let transfers_copy: Vec<(Key, TransferRec)> = transfers
            .map
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        drop(stripes);
        drop(order_guards);
        drop(hold_guards);
        drop(transfers);
        ledger.sort_unstable_by_key(|e| e.seq);
        reservations.sort_unstable();
        // Slices trim independently: keep only what is above every floor.
        ledger.retain(|e| e.seq > ledger_floor);
        let snap = Snapshot {
            format: FORMAT,
            seq,
            ledger_floor,
            skus,
            locations: topo.locations.clone(),
            channels: topo.channels.clone(),
            holds: by_key(holds),
            orders: by_key(orders),
            transfers: by_key(transfers_copy),
            kpis,
            ledger,
            picks,
            observed,
            reservations,
        };
        (snap, cut)
    }

    /// An engine holding exactly the state of `snapshot`.
    pub fn restore(snapshot: Snapshot, config: Config) -> Result<Engine> {
        if !(2..=FORMAT).contains(&snapshot.format) {
            return Err(Error::arg(
                "snapshot",
                format!("format {} is not supported", snapshot.format),
            ));
        }
        let eng = Engine::with_config(config);
        let mut observed = snapshot.observed;
        observed.sort_unstable();
        if observed
            .last()
            .is_some_and(|o| o.0 as usize >= snapshot.skus.len())
        {
            return Err(Error::arg(
                "snapshot",
                "an observation names a SKU the snapshot does not have",
            ));
        }
        let mut observed = observed.into_iter().peekable();
        for (i, (name, mut stock)) in snapshot.skus.into_iter().enumerate() {
            while let Some((_, loc, ms)) = observed.next_if(|o| o.0 as usize == i) {
                stock.cold_entry(loc).observed_ms = ms;
            }
            let scale = stock.scale;
            let ((id, _), created) =
                eng.skus
                    .get_or_create(&name, SkuSpec { unit_scale: scale }, |id, _| {
                        eng.place_stock(id, stock);
                    })?;
            if !created || id.0 as usize + 1 != eng.skus.len() {
                return Err(Error::arg(
                    "snapshot",
                    format!("SKU `{name}` appears twice"),
                ));
            }
        }
        eng.topo.store(Arc::new(Topology::from_parts(
            snapshot.locations,
            snapshot.channels,
        )));
        eng.topo_gen
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        let retention = eng.config.hold_retention_ms;
        let mut min_due = u64::MAX;
        for (key, rec) in snapshot.holds {
            let due = match rec.state {
                HoldState::Active => rec.expires_ms,
                _ => rec.ended_ms.saturating_add(retention),
            };
            min_due = min_due.min(due);
            let h = crate::hold::IdHash::new(&key);
            eng.holds[h.shard(eng.holds.len())]
                .0
                .lock()
                .insert(&h, rec, due);
        }
        // Closed orders wait for their purge again, in closing order (a
        // snapshot from before closing times were kept: closed now).
        let now = eng.now_ms();
        let mut closed: Vec<(u64, Key)> = Vec::new();
        let reserved: std::collections::HashMap<Key, (u32, Option<u64>)> = snapshot
            .reservations
            .into_iter()
            .map(|(k, h, until)| (k, (h, until)))
            .collect();
        for (key, mut rec) in snapshot.orders {
            if let Some(&(hours, until)) = reserved.get(&key) {
                rec.reserve_hours = Some(hours);
                rec.reserved_until = until;
            }
            if let Some(until) = rec.reserved_until.filter(|_| rec.is_open()) {
                eng.queue_reservation(key.clone(), until);
                min_due = min_due.min(until);
            }
            if rec.closed_ms.is_none() && !rec.is_open() {
                rec.closed_ms = Some(now);
            }
            if let Some(at) = rec.closed_ms {
                closed.push((at, key.clone()));
            }
            eng.orders[shard_index(&key, eng.orders.len())]
                .0
                .lock()
                .map
                .insert(key, rec);
        }
        closed.sort_unstable();
        for (at, key) in closed {
            let shard = &eng.orders[shard_index(&key, eng.orders.len())];
            let due = shard
                .0
                .lock()
                .queue_purge(key, at, eng.config.order_retention_ms);
            min_due = min_due.min(due);
        }
        if let Some(due) =
            eng.transfers
                .lock()
                .restore(snapshot.transfers, now, eng.config.transfer_retention_ms)
        {
            min_due = min_due.min(due);
        }
        eng.stripes[0].0.lock().kpi = snapshot.kpis;
        *eng.picks.lock() = snapshot.picks;
        if snapshot
            .ledger
            .iter()
            .enumerate()
            .any(|(i, e)| e.seq != snapshot.ledger_floor + 1 + i as u64)
            || snapshot
                .ledger
                .last()
                .map_or(snapshot.ledger_floor, |e| e.seq)
                != snapshot.seq
        {
            return Err(Error::arg(
                "snapshot",
                "the ledger must run without a gap from the floor to the sequence number",
            ));
        }
        eng.replay_events(snapshot.ledger_floor, snapshot.ledger);
        eng.seq.0.store(snapshot.seq, Ordering::Release);
        eng.next_due_ms.store(min_due, Ordering::Release);
        Ok(eng)
    }
}

/// Where reconciliations were applied, as of when (`Snapshot::observed`).
fn observed_of(skus: &[(Key, SkuStock)]) -> Vec<(u32, LocationId, u64)> {
    let mut out = Vec::new();
    for (i, (_, stock)) in skus.iter().enumerate() {
        for c in stock.cold.iter().filter(|c| c.observed_ms > 0) {
            out.push((i as u32, c.loc, c.observed_ms));
        }
    }
    out
}

/// The records in key order, so that the same state gives the same bytes.
/// The keys are unique (each came from one map), so an unstable sort gives
/// that same order, with fewer comparisons than a stable one.
fn by_key<T>(mut v: Vec<(Key, T)>) -> Vec<(Key, T)> {
    v.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{LocationSpec, Note};

    /// An older body is this format's without the lists added since (their
    /// lengths, 8 bytes each, when empty: `reservations` since 3, and
    /// `observed` too since 2) and with its own format number: it reads as
    /// a snapshot with those lists empty, which restores; a cut body of
    /// this format is an error.
    #[test]
    fn older_bodies_read_as_having_no_observations_or_reservations() {
        let e = Engine::new();
        e.upsert_location(LocationSpec::warehouse("wh")).unwrap();
        e.receive("tee", "wh", 5.into(), Note::default()).unwrap();
        let snap = e.snapshot();
        assert!(snap.observed.is_empty() && snap.reservations.is_empty());
        for (format, cut) in [(2u32, 16), (3, 8)] {
            let mut body = bincode::serialize(&snap).unwrap();
            body.truncate(body.len() - cut);
            body[..4].copy_from_slice(&format.to_le_bytes());
            let old = from_bincode(&body).unwrap();
            assert_eq!(old.format, format);
            assert_eq!(
                Snapshot {
                    format: FORMAT,
                    ..old.clone()
                },
                snap
            );
            let back = Engine::restore(old, Config::default()).unwrap();
            assert_eq!(back.snapshot(), snap);
            body[..4].copy_from_slice(&FORMAT.to_le_bytes());
            assert!(from_bincode(&body).is_err(), "format {format}");
        }
    }
}
