//! The locks the engine's rules run under: parking_lot's, or, when the
//! crate is built with `--cfg shuttle` (the model-checking tests,
//! `scripts/shuttle.sh`), shuttle's, so that its scheduler can switch
//! threads at every lock and explore their interleavings.
//!
//! Only the in-memory engine's locks go through here; the journal keeps
//! its own (its flusher thread is not model-checked). Atomics and
//! `arc_swap` stay std's under shuttle: they are correct under any
//! interleaving, and shuttle simply does not switch threads inside them.

#[cfg(not(shuttle))]
pub(crate) use parking_lot::{Mutex, MutexGuard, RwLock};

#[cfg(shuttle)]
pub(crate) use shim::{Mutex, MutexGuard, RwLock};

/// parking_lot's API over shuttle's std-like locks (no poisoning: a
/// panicking model-checked thread fails the test anyway).
#[cfg(shuttle)]
mod shim {
    use std::sync::PoisonError;

    pub(crate) type MutexGuard<'a, T> = shuttle::sync::MutexGuard<'a, T>;

    #[derive(Default, Debug)]
    pub(crate) struct Mutex<T>(shuttle::sync::Mutex<T>);

    impl<T> Mutex<T> {
        pub(crate) const fn new(value: T) -> Self {
            Mutex(shuttle::sync::Mutex::new(value))
        }
        pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
            self.0.lock().unwrap_or_else(PoisonError::into_inner)
        }
        pub(crate) fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
            self.0.try_lock().ok()
        }
    }

    #[derive(Default, Debug)]
    pub(crate) struct RwLock<T>(shuttle::sync::RwLock<T>);

    impl<T> RwLock<T> {
        pub(crate) fn new(value: T) -> Self {
            RwLock(shuttle::sync::RwLock::new(value))
        }
        pub(crate) fn read(&self) -> shuttle::sync::RwLockReadGuard<'_, T> {
            self.0.read().unwrap_or_else(PoisonError::into_inner)
        }
        pub(crate) fn write(&self) -> shuttle::sync::RwLockWriteGuard<'_, T> {
            self.0.write().unwrap_or_else(PoisonError::into_inner)
        }
    }
}
