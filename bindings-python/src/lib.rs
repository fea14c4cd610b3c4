//! The Python package `unistock`: thin bindings over the `unistock` crate.
//! One Rust module per core module (stock, channel, hold, order, transfer,
//! routing, ledger, feed, durable); all rules stay in the core. Conversions are in `convert`,
//! the one error mapping in `errors`.

mod channel;
mod convert;
mod durable;
mod engine;
mod errors;
mod feed;
mod hold;
mod ledger;
mod order;
mod records;
mod routing;
mod stock;
mod transfer;

use pyo3::prelude::*;

// The package's own allocations (hold records, receipts, batch buffers)
// come from mimalloc: a 10-line hold makes a few, and glibc's malloc and
// free were about a tenth of a batch's time (`core/examples/batch_ceiling`
// runs the core the same way).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[pymodule]
mod _core {
    #[allow(non_upper_case_globals)]
    #[pymodule_export]
    const __version__: &str = env!("CARGO_PKG_VERSION");

    #[pymodule_export]
    use crate::channel::{Channel, Location, LocationAvailability};
    #[pymodule_export]
    use crate::durable::Recovery;
    #[pymodule_export]
    use crate::engine::{Engine, Kpis, ManualClock};
    #[pymodule_export]
    use crate::feed::{Change, Subscription};
    #[pymodule_export]
    use crate::hold::{HoldInfo, HoldReceipt, Line, Part};
    #[pymodule_export]
    use crate::ledger::LedgerEntry;
    #[pymodule_export]
    use crate::order::{Backorder, OrderInfo, OrderLineInfo, OrderReceipt};
    #[pymodule_export]
    use crate::routing::{Candidate, LocationLoad, Placement, Plan, Shipment};
    #[pymodule_export]
    use crate::stock::{CountReport, ExpectedReceipt, Levels, LoadReport, Reconciliation};
    #[pymodule_export]
    use crate::transfer::TransferInfo;

    #[pymodule_export]
    use crate::errors::_debug_panic;

    /// Pages mimalloc frees are kept 10 s, not 1 s, so steady churn does
    /// not fault them in again and again
    /// (`unistock::alloc::keep_freed_pages`).
    #[pymodule_init]
    fn init(_m: &pyo3::Bound<'_, pyo3::types::PyModule>) -> pyo3::PyResult<()> {
        unistock::alloc::keep_freed_pages();
        Ok(())
    }
}
