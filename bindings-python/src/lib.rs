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

/// mimalloc gives pages that stay free for `purge_delay` (1 s in its v3) back
/// to the OS, and the kernel faults them in again, zeroed (2 MiB at a time
/// with transparent huge pages), when they are reused: a shop's steady
/// churn of holds, receipts and batch buffers paid that fault again and
/// again (about 90 faults per round of 200,000 ten-line lines in
/// `benches/python/bench_holds.py`, and an eighth of its profile). Free
/// pages are kept for 10 s instead. The host's `MIMALLOC_PURGE_DELAY`
/// still wins, and nothing is set unless index 15 reads v3's default (the
/// index is pinned by `tests/tests/allocator.rs`).
fn keep_freed_pages() {
    const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
    // SAFETY: called once at module load, before any thread of ours runs.
    unsafe {
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none()
            && libmimalloc_sys::mi_option_get(PURGE_DELAY) == 1_000
        {
            libmimalloc_sys::mi_option_set(PURGE_DELAY, 10_000);
        }
    }
}

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

    #[pymodule_init]
    fn init(_m: &pyo3::Bound<'_, pyo3::types::PyModule>) -> pyo3::PyResult<()> {
        crate::keep_freed_pages();
        Ok(())
    }
}
