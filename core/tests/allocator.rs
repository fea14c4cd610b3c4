//! `unistock::alloc::keep_freed_pages` (the `mimalloc` feature, which the
//! Python and Node packages turn on) sets mimalloc's `purge_delay` by its
//! index in `mimalloc.h` (the Rust bindings do not export that option):
//! this pins the index to the option, by its documented default of 1,000
//! ms in mimalloc v3. When an upgrade moves it, this fails, and the
//! packages, which set nothing unless the index reads that default, keep
//! mimalloc's own behaviour until the index is mended.

#[test]
fn index_15_is_purge_delay_at_its_v3_default() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
        return; // the host chose its own
    }
    // SAFETY: reads an option; no other test touches mimalloc's options.
    let delay = unsafe { libmimalloc_sys::mi_option_get(15) };
    assert_eq!(delay, 1_000);
    // The neighbours are other options, with other defaults.
    let (before, after) = unsafe {
        (
            libmimalloc_sys::mi_option_get(14),
            libmimalloc_sys::mi_option_get(16),
        )
    };
    assert_ne!(before, 1_000);
    assert_ne!(after, 1_000);
    // In the same test, after the pin (tests share the process): the
    // packages' call moves it to 10 s.
    #[cfg(feature = "mimalloc")]
    {
        unistock::alloc::keep_freed_pages();
        assert_eq!(unsafe { libmimalloc_sys::mi_option_get(15) }, 10_000);
    }
}
