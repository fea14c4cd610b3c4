//! The change feed: derived events delivered to subscribers after every
//! lock of the operation has been released, so a subscriber may call back
//! into the engine.
//!
//! Delivery is synchronous, on the thread that made the change. Across
//! threads, notifications can arrive out of sequence order; each carries the
//! `seq` of its change, and `Engine::events_since` gives the ordered ledger.

use crate::engine::Engine;
use crate::qty::Qty;
use crate::stock::Levels;
use parking_lot::RwLock;
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

/// Subscription handle, for `unsubscribe`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SubscriptionId(u64);

#[derive(Default)]
pub(crate) struct Feed {
    subs: RwLock<Vec<(u64, Subscriber)>>,
    active: AtomicBool,
    next: AtomicU64,
}

impl Feed {
    #[inline]
    pub(crate) fn is_active(&self) -> bool {
        self.active.load(Ordering::Acquire)
    }
}

impl Engine {
    /// Calls `f` with the derived changes of every later mutation. Changes
    /// are only derived while at least one subscriber exists.
    ///
    /// Locking: the subscriber list (write), briefly.
    pub fn subscribe(&self, f: impl Fn(&[Change]) + Send + Sync + 'static) -> SubscriptionId {
        let id = self.feed.next.fetch_add(1, Ordering::Relaxed);
        let mut subs = self.feed.subs.write();
        subs.push((id, Arc::new(f)));
        self.feed.active.store(true, Ordering::Release);
        SubscriptionId(id)
    }

    /// Stops a subscription; returns whether it existed.
    pub fn unsubscribe(&self, id: SubscriptionId) -> bool {
        let mut subs = self.feed.subs.write();
        let before = subs.len();
        subs.retain(|(i, _)| *i != id.0);
        self.feed.active.store(!subs.is_empty(), Ordering::Release);
        subs.len() != before
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
