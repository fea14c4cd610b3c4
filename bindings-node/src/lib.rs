//! The npm package `unistock`: thin napi-rs bindings over the `unistock`
//! crate. One Rust module per core module (stock, channel, hold, order,
//! transfer, routing, ledger, feed, durable); all rules stay in the core. Conversions (every
//! input arrives as `unknown` and is checked) are in `convert`, the one
//! error mapping in `errors`. Every export is marked `catch_unwind`: a panic
//! becomes a JS `Error`, never an abort.

mod channel;
mod convert;
mod engine;
// After `engine`: napi-rs must see `Engine` before an `impl Engine`.
mod durable;
mod errors;
mod fast;
mod feed;
mod hold;
mod ledger;
mod order;
mod routing;
mod stock;
mod transfer;

// The package's own allocations (hold records, receipts, batch buffers)
// come from mimalloc: a 10-line hold makes a few, and glibc's malloc and
// free were about a tenth of a batch's time (`core/examples/batch_ceiling`
// runs the core the same way).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Pages mimalloc frees are kept 10 s, not 1 s, so steady churn does not
/// fault them in again and again (`unistock::alloc::keep_freed_pages`).
#[napi_derive::module_init]
fn tune_allocator() {
    unistock::alloc::keep_freed_pages();
}
