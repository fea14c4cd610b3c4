//! The locks the engine's rules run under: parking_lot's or, for the
//! model-checking tests, a model checker's, so that its scheduler can
//! switch threads at every lock and explore their interleavings:
//! shuttle's when the crate is built with `--cfg shuttle`
//! (`scripts/shuttle.sh`: random and PCT schedules), loom's with
//! `--cfg loom` (`scripts/loom.sh`: every schedule, exhaustively).
//!
//! Only the in-memory engine's locks go through here; the journal keeps
//! its own (its flusher thread is not model-checked). Atomics and
//! `arc_swap` stay std's under both: they are correct under any
//! interleaving, and the checkers simply do not switch threads inside them.

#[cfg(all(shuttle, loom))]
compile_error!("build with --cfg shuttle or with --cfg loom, not both");

#[cfg(not(any(shuttle, loom)))]
pub(crate) use parking_lot::{Mutex, MutexGuard, RwLock};

#[cfg(any(shuttle, loom))]
pub(crate) use shim::{Mutex, MutexGuard, RwLock};

/// parking_lot's API over the checker's std-like locks (no poisoning: a
/// panicking model-checked thread fails the test anyway).
#[cfg(any(shuttle, loom))]
mod shim {
    #[cfg(loom)]
    use loom::sync as model;
    #[cfg(shuttle)]
    use shuttle::sync as model;
    use std::sync::PoisonError;

    pub(crate) type MutexGuard<'a, T> = model::MutexGuard<'a, T>;

    pub(crate) struct Mutex<T>(model::Mutex<T>);

    impl<T> Mutex<T> {
        pub(crate) fn new(value: T) -> Self {
            Mutex(model::Mutex::new(value))
        }
        pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
            self.0.lock().unwrap_or_else(PoisonError::into_inner)
        }
        pub(crate) fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
            self.0.try_lock().ok()
        }
    }

    impl<T: Default> Default for Mutex<T> {
        fn default() -> Self {
            Mutex::new(T::default())
        }
    }

    impl<T> std::fmt::Debug for Mutex<T> {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("Mutex { .. }")
        }
    }

    pub(crate) struct RwLock<T>(model::RwLock<T>);

    impl<T> RwLock<T> {
        pub(crate) fn new(value: T) -> Self {
            RwLock(model::RwLock::new(value))
        }
        pub(crate) fn read(&self) -> model::RwLockReadGuard<'_, T> {
            self.0.read().unwrap_or_else(PoisonError::into_inner)
        }
        pub(crate) fn write(&self) -> model::RwLockWriteGuard<'_, T> {
            self.0.write().unwrap_or_else(PoisonError::into_inner)
        }
    }

    impl<T: Default> Default for RwLock<T> {
        fn default() -> Self {
            RwLock::new(T::default())
        }
    }

    impl<T> std::fmt::Debug for RwLock<T> {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("RwLock { .. }")
        }
    }
}
