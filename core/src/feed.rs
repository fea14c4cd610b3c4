//! The change feed: derived events delivered to subscribers after every
//! lock of the operation has been released, so a subscriber may call back
//! into the engine.
//!
//! Delivery is synchronous, on the thread that made the change. Across
//! threads, notifications can arrive out of sequence order; each carries the
//! `seq` of its change, and `Engine::events_since` gives the ordered ledger.

use crate::engine::Engine;
use crate::ledger::LedgerEntry;
use crate::qty::Qty;
use crate::stock::Levels;
use crate::sync::{Mutex, RwLock};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// A derived change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Change {
    /// Levels of a (SKU, location) changed.
    StockChanged {
        seq: u64,
        sku: String,
        location: String,
        levels: Levels,
    },
    /// What a channel may sell of a SKU changed.
    AvailabilityChanged {
        seq: u64,
        channel: String,
        sku: String,
        before: Qty,
        after: Qty,
    },
    /// A channel can no longer sell a SKU.
    OutOfStock {
        seq: u64,
        channel: String,
        sku: String,
    },
    /// A channel can sell a SKU again.
    BackInStock {
        seq: u64,
        channel: String,
        sku: String,
    },
}

impl Change {
    /// The kind as the bindings name it: `stock_changed`,
    /// `availability_changed`, `out_of_stock`, `back_in_stock`.
    pub fn kind(&self) -> &'static str {
        match self {
            Change::StockChanged { .. } => "stock_changed",
            Change::AvailabilityChanged { .. } => "availability_changed",
            Change::OutOfStock { .. } => "out_of_stock",
            Change::BackInStock { .. } => "back_in_stock",
        }
    }
    /// The sequence number of the change that caused it.
    pub fn seq(&self) -> u64 {
        match self {
            Change::StockChanged { seq, .. }
            | Change::AvailabilityChanged { seq, .. }
            | Change::OutOfStock { seq, .. }
            | Change::BackInStock { seq, .. } => *seq,
        }
    }
    pub fn sku(&self) -> &str {
        match self {
            Change::StockChanged { sku, .. }
            | Change::AvailabilityChanged { sku, .. }
            | Change::OutOfStock { sku, .. }
            | Change::BackInStock { sku, .. } => sku,
        }
    }
    /// The location, for `StockChanged`.
    pub fn location(&self) -> Option<&str> {
        match self {
            Change::StockChanged { location, .. } => Some(location),
            _ => None,
        }
    }
    /// The channel, for the channel-level kinds.
    pub fn channel(&self) -> Option<&str> {
        match self {
            Change::AvailabilityChanged { channel, .. }
            | Change::OutOfStock { channel, .. }
            | Change::BackInStock { channel, .. } => Some(channel),
            Change::StockChanged { .. } => None,
        }
    }
    /// The new levels, for `StockChanged`.
    pub fn levels(&self) -> Option<Levels> {
        match self {
            Change::StockChanged { levels, .. } => Some(*levels),
            _ => None,
        }
    }
    /// Availability before and after, for `AvailabilityChanged`.
    pub fn before_after(&self) -> Option<(Qty, Qty)> {
        match self {
            Change::AvailabilityChanged { before, after, .. } => Some((*before, *after)),
            _ => None,
        }
    }
}

/// A subscriber callback.
pub type Subscriber = Arc<dyn Fn(&[Change]) + Send + Sync>;

/// A ledger subscriber callback (see [`Engine::subscribe_from`]).
pub type LedgerSubscriber = Arc<dyn Fn(&[LedgerEntry]) + Send + Sync>;

struct LedgerSub {
    id: u64,
    f: LedgerSubscriber,
    /// The last sequence number delivered; held while delivering, so one
    /// thread at a time delivers to this subscriber, in order.
    cursor: Mutex<u64>,
}

/// Subscription handle, for `unsubscribe`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SubscriptionId(u64);

#[derive(Default)]
pub(crate) struct Feed {
    subs: RwLock<Vec<(u64, Subscriber)>>,
    active: AtomicBool,
    next: AtomicU64,
    ledger: RwLock<Vec<Arc<LedgerSub>>>,
    ledger_active: AtomicBool,
}

impl Feed {
    #[inline]
    pub(crate) fn is_active(&self) -> bool {
        self.active.load(Ordering::Acquire)
    }
    #[inline]
    pub(crate) fn ledger_active(&self) -> bool {
        self.ledger_active.load(Ordering::Acquire)
    }
}

impl Engine {
    /// Calls `f` with the derived changes of every later mutation, with no
    /// engine lock held, on the thread that made the change; `f` may call
    /// back into the engine. Changes are only derived while at least one
    /// subscriber exists. A panic in `f` is caught: the change stands and
    /// the caller gets its result, the other subscribers still run, and
    /// later changes still reach `f`.
    ///
    /// Locking: the subscriber list (write), briefly.
    pub fn subscribe(&self, f: impl Fn(&[Change]) + Send + Sync + 'static) -> SubscriptionId {
        let id = self.feed.next.fetch_add(1, Ordering::Relaxed);
        let mut subs = self.feed.subs.write();
        subs.push((id, Arc::new(f)));
        self.feed.active.store(true, Ordering::Release);
        SubscriptionId(id)
    }

    /// A resumable feed of the ledger: calls `f` with every ledger entry
    /// after sequence number `after` (the last one the subscriber
    /// processed; 0 for all), oldest first and without gaps, first the
    /// ones already in the ledger (on the calling thread, before this
    /// returns), then each later mutation's, once it is acknowledged (in
    /// `sync` mode: durable). After a restart, entries come back from the
    /// snapshot and the replayed journal, so a subscriber that stores the
    /// last `seq` it processed resumes exactly where it stopped, as long as
    /// the ledger still holds it (`Config::ledger_retention`), else
    /// `LedgerTruncated`. Entries are delivered with no engine lock held,
    /// on a thread that made a change; `f` may call back into the engine.
    /// A panic in `f` is caught like a [`Engine::subscribe`] callback's,
    /// and the batch it panicked on counts as delivered: a subscriber that
    /// must not lose entries stores the last `seq` it finished and, after a
    /// failure, subscribes again from there.
    ///
    /// Cost while a ledger subscriber exists: each mutation reads the new
    /// entries back (every stripe's newest ledger chunk).
    ///
    /// Locking: as `events_since`, per delivery; the subscriber list (write), briefly.
    pub fn subscribe_from(
        &self,
        after: u64,
        f: impl Fn(&[LedgerEntry]) + Send + Sync + 'static,
    ) -> crate::Result<SubscriptionId> {
        if after > self.last_seq() {
            return Err(crate::Error::arg(
                "after",
                format!("beyond the last sequence number {}", self.last_seq()),
            ));
        }
        self.events_since(after, 1)?;
        let id = self.feed.next.fetch_add(1, Ordering::Relaxed);
        let sub = Arc::new(LedgerSub {
            id,
            f: Arc::new(f),
            cursor: Mutex::new(after),
        });
        self.feed.ledger.write().push(sub.clone());
        self.feed.ledger_active.store(true, Ordering::Release);
        self.deliver_ledger(&sub);
        Ok(SubscriptionId(id))
    }

    /// Stops a subscription; returns whether it existed.
    pub fn unsubscribe(&self, id: SubscriptionId) -> bool {
        let mut subs = self.feed.subs.write();
        let before = subs.len();
        subs.retain(|(i, _)| *i != id.0);
        self.feed.active.store(!subs.is_empty(), Ordering::Release);
        let mut found = subs.len() != before;
        drop(subs);
        let mut ledger = self.feed.ledger.write();
        let before = ledger.len();
        ledger.retain(|s| s.id != id.0);
        self.feed
            .ledger_active
            .store(!ledger.is_empty(), Ordering::Release);
        found |= ledger.len() != before;
        found
    }

    /// Delivers new ledger entries to every ledger subscriber. Called after
    /// each acknowledged mutation, with no engine lock held.
    pub(crate) fn publish_ledger(&self) {
        let subs: Vec<Arc<LedgerSub>> = self.feed.ledger.read().clone();
        for s in subs {
            self.deliver_ledger(&s);
        }
    }

    fn deliver_ledger(&self, sub: &LedgerSub) {
        loop {
            // Another thread (or this one, re-entered from the callback) is
            // delivering: it picks these entries up before it stops.
            let Some(mut cursor) = sub.cursor.try_lock() else {
                return;
            };
            loop {
                let batch = match self.events_since(*cursor, 4096) {
                    Ok(b) if !b.is_empty() => b,
                    _ => break,
                };
                *cursor = batch.last().expect("not empty").seq;
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (sub.f)(&batch)));
            }
            let delivered = *cursor;
            drop(cursor);
            // Entries numbered while we were finishing wait for no one else:
            // their thread found the cursor taken.
            if self.last_seq() <= delivered {
                return;
            }
            std::thread::yield_now();
        }
    }

    /// Delivers changes. Must be called with no engine lock held. A
    /// panicking subscriber is isolated: the others still run, and the
    /// change (already committed) stands.
    pub(crate) fn publish(&self, changes: Vec<Change>) {
        if changes.is_empty() {
            return;
        }
        let subs: Vec<Subscriber> = self
            .feed
            .subs
            .read()
            .iter()
            .map(|(_, s)| s.clone())
            .collect();
        for s in subs {
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| s(&changes)));
        }
    }
}
