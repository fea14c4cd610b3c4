//! # unistock
//!
//! An embeddable inventory engine: one in-memory source of truth for stock,
//! holds and orders across every sales channel of a retailer (web, app,
//! stores and their tills, marketplaces).
//!
//! * **No oversell**, under any number of threads: every hold, order and
//!   till sale is checked and applied under the locks of the SKUs it touches.
//! * **Idempotent** holds, orders, sales and transfers keyed by the host's ids.
//! * **All-or-nothing** multi-line operations.
//! * A **ledger** of every change, which the state is the exact fold of, and
//!   a change feed (stock, channel availability, out of / back in stock).
//! * **Exact quantities**: whole units on an integer fast path, decimal
//!   units for goods sold by weight or length, never floats.
//!
//! ```
//! use unistock::{ChannelSpec, Engine, HoldLine, HoldRequest, LocationSpec, Note};
//!
//! let engine = Engine::new();
//! engine.upsert_location(LocationSpec::warehouse("wh-1"))?;
//! engine.upsert_location(LocationSpec::store("store-7"))?;
//! engine.upsert_channel(ChannelSpec::new("web", ["wh-1", "store-7"]))?;
//! engine.receive("tee-blue-m", "wh-1", 5.into(), Note::new("po_receipt", "PO-1"))?;
//!
//! let lines = [HoldLine::new("tee-blue-m", 2)];
//! engine.hold(&HoldRequest::new("cart-42", "web", &lines, 15 * 60 * 1000))?;
//! assert_eq!(engine.availability("web", "tee-blue-m")?, 3.into());
//!
//! engine.commit("cart-42", "order-1001")?;
//! assert_eq!(engine.levels("tee-blue-m", "wh-1")?.allocated, 2.into());
//! # Ok::<(), unistock::Error>(())
//! ```
//!
//! Locking is documented on every public method; see [`engine`] for the
//! global lock order.

// Unsafe code is refused everywhere but in `prefetch`, whose one block
// issues a prefetch instruction (no memory is read, nothing can fault), and
// in `alloc` (the `mimalloc` feature), which sets one of mimalloc's options.
#![deny(unsafe_code)]
#![warn(missing_debug_implementations)]

#[cfg(feature = "mimalloc")]
pub mod alloc;
pub mod channel;
pub mod clock;
pub mod durable;
pub mod engine;
pub mod error;
pub mod feed;
pub mod hold;
pub mod ids;
pub mod kpi;
pub mod ledger;
pub mod location;
mod loclist;
mod names;
pub mod order;
pub mod pool;
mod prefetch;
pub mod qty;
pub mod routing;
pub mod sku;
pub mod snapshot;
pub mod stock;
mod sync;
mod tagindex;
pub mod topology;
pub mod transfer;

pub use channel::{Cap, ChannelSpec, LocationAvailability};
pub use clock::{Clock, ManualClock, SystemClock};
pub use durable::{Durability, DurableOptions, Recovery};
pub use engine::{Config, Engine, Note};
pub use error::{Error, IdKind, Result};
pub use feed::{Change, SubscriptionId};
pub use hold::{HoldLine, HoldReceipt, HoldRequest, HoldState, HoldView, Part};
pub use ids::{ChannelId, LocationId, SkuId};
pub use kpi::Kpis;
pub use ledger::{Deltas, Event, EventKind, LedgerEntry};
pub use location::{Capabilities, Location, LocationKind, LocationSpec};
pub use order::{Allocation, Backorder, OrderLine, OrderReceipt, OrderState, OrderView};
pub use qty::{Qty, QtyProblem};
pub use routing::{
    CandidateView, Fulfilment, LocationLoad, Placed, Plan, PlanLine, RouteOptions, RouteRequest,
    RouteStrategy, Scorer, Shipment,
};
pub use sku::SkuSpec;
pub use snapshot::Snapshot;
pub use stock::{Condition, CountReport, Levels, LoadRecord, LoadReport, Reconciliation};
pub use transfer::{TransferState, TransferView};

/// The README's Rust blocks run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
mod readme_doctests {}
