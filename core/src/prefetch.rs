//! Software prefetch: starts a cache miss without waiting for it.
//!
//! A plain read used as a prefetch (`black_box(*p)`) starts the miss too,
//! but the core cannot retire past that read until the line arrives, and
//! once its reorder window fills behind it, later independent misses wait
//! to start. A prefetch instruction retires at once. It never faults, and
//! it changes no value the program sees, so it is safe on any address.

/// Starts loading the cache lines of `*p` (at most `lines` of them, 64
/// bytes each, from `p` on). A no-op on targets without a prefetch
/// instruction we use.
#[inline(always)]
pub(crate) fn lines<T>(p: *const T, lines: usize) {
    #[cfg(target_arch = "x86_64")]
    for i in 0..lines {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        // SAFETY: a prefetch reads nothing the program sees and never
        // faults, whatever the address.
        #[allow(unsafe_code)]
        unsafe {
            _mm_prefetch::<_MM_HINT_T0>(p.cast::<i8>().wrapping_add(64 * i));
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (p, lines);
}
