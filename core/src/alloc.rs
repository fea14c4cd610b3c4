//! Settings for a host whose global allocator is mimalloc (the Python and
//! Node packages'), behind the `mimalloc` feature.

/// `mi_option_purge_delay`'s index in mimalloc's `mimalloc.h` (the Rust
/// bindings do not export that option; `core/tests/allocator.rs` pins it).
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Keeps pages that fall free for 10 s before mimalloc gives them back to
/// the OS, instead of its v3 default of 1 s.
///
/// A page given back is faulted in again, zeroed (2 MiB at a time with
/// transparent huge pages), when it is reused: a shop's steady churn of
/// holds, receipts and batch buffers paid that fault again and again
/// (about 90 faults per round of 200,000 ten-line lines in
/// `benches/python/bench_holds.py`, and an eighth of its profile). The
/// host's `MIMALLOC_PURGE_DELAY` still wins, and nothing is set unless the
/// option reads v3's default (an upgrade that moved the index changes
/// nothing).
///
/// Call it once, when the host loads, before its threads allocate.
pub fn keep_freed_pages() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
        return;
    }
    // SAFETY: reads and sets one of mimalloc's options; mimalloc's option
    // calls are not thread-safe, and the caller runs this at load time.
    #[allow(unsafe_code)]
    unsafe {
        if libmimalloc_sys::mi_option_get(PURGE_DELAY) == 1_000 {
            libmimalloc_sys::mi_option_set(PURGE_DELAY, 10_000);
        }
    }
}
