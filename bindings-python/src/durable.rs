//! Durability (mirrors `unistock::durable`): `Engine.open` on a directory,
//! snapshots, flush, close, and what recovery did.

use crate::convert::arg_err;
use crate::engine::{Engine, ManualClock, settings};
use crate::errors::run;
use crate::records::record;
use pyo3::prelude::*;
use pyo3::types::PyString;
use std::sync::Arc;
use unistock::{Durability, DurableOptions};

record!(
    /// What recovery found and did when the engine was opened.
    /// `torn_tail`: (file, offset) of a torn last record that was dropped.
    Recovery {
        snapshot_seq: u64,
        records_replayed: u64,
        events_replayed: u64,
        torn_tail: Option<(String, u64)>,
        records_dropped: u64,
        expired_on_open: usize,
        micros: u64,
    }
);

fn mode_name(m: Durability) -> String {
    match m {
        Durability::Sync => "sync".into(),
        Durability::None => "none".into(),
        Durability::Interval(ms) => format!("interval:{ms}"),
    }
}

#[pymethods]
impl Engine {
    /// Opens (or creates) a durable engine on a directory: recovers its
    /// state, then journals every mutation there. `durability`: 'sync'
    /// (return after fsync; concurrent callers and batch calls share one),
    /// 'interval' or 'interval:<ms>' (fsync every 100 or <ms> ms: a crash
    /// loses at most that window), 'none' (written to the OS, never
    /// fsynced). `snapshot_bytes`: take a snapshot once the journal grew
    /// this much (0: only on `checkpoint()`). Raises `LockedError` when
    /// another engine has the directory open, `CorruptError` for damage
    /// recovery must not paper over. Other settings as `Engine()`.
    ///
    /// Locking: none of the engine's (it is new); holds the directory's lock file.
    #[staticmethod]
    #[pyo3(signature = (path, *, durability="sync", snapshot_bytes=268435456, clock=None, default_ttl=None, hold_retention=None, order_retention=None, transfer_retention=None, max_ttl=None, ledger_retention=None, stripes=256, max_lines=1000))]
    #[allow(clippy::too_many_arguments)]
    fn open(
        py: Python<'_>,
        path: &Bound<'_, PyAny>,
        durability: &str,
        snapshot_bytes: u64,
        clock: Option<&Bound<'_, ManualClock>>,
        default_ttl: Option<&Bound<'_, PyAny>>,
        hold_retention: Option<&Bound<'_, PyAny>>,
        order_retention: Option<&Bound<'_, PyAny>>,
        transfer_retention: Option<&Bound<'_, PyAny>>,
        max_ttl: Option<&Bound<'_, PyAny>>,
        ledger_retention: Option<&Bound<'_, PyAny>>,
        stripes: usize,
        max_lines: usize,
    ) -> PyResult<Self> {
        let path: std::path::PathBuf = if path.is_instance_of::<PyString>() {
            path.extract()?
        } else {
            py.import("os")?
                .call_method1("fspath", (path,))
                .and_then(|p| p.extract())
                .map_err(|_| arg_err(py, "path", "must be a str or os.PathLike"))?
        };
        let mode = Durability::parse(durability).ok_or_else(|| {
            arg_err(
                py,
                "durability",
                "must be 'sync', 'interval', 'interval:<ms>' or 'none'",
            )
        })?;
        let s = settings(
            clock,
            default_ttl,
            hold_retention,
            order_retention,
            transfer_retention,
            max_ttl,
            ledger_retention,
            stripes,
            max_lines,
        )?;
        let config = s.config;
        let options = DurableOptions {
            mode,
            snapshot_bytes,
        };
        let engine = run(py, move || unistock::Engine::open(&path, config, options))?;
        Ok(Engine {
            inner: Arc::new(engine),
            default_ttl_ms: s.default_ttl_ms,
        })
    }

    /// 'sync', 'interval:<ms>' or 'none'; None for an in-memory engine.
    #[getter]
    fn durability(&self) -> Option<String> {
        self.inner.durability().map(mode_name)
    }

    /// What recovery did when this engine was opened (None: in memory).
    #[getter]
    fn recovery(&self) -> Option<Recovery> {
        self.inner.recovery().map(|r| Recovery {
            snapshot_seq: r.snapshot_seq,
            records_replayed: r.records_replayed,
            events_replayed: r.events_replayed,
            torn_tail: r.torn_tail.clone(),
            records_dropped: r.records_dropped,
            expired_on_open: r.expired_on_open,
            micros: r.micros,
        })
    }

    /// Writes a snapshot and deletes the journal before it; returns its
    /// sequence number. Writers pause while the state is copied, not while
    /// it is written.
    ///
    /// Locking: every table and stripe while the state is copied.
    fn checkpoint(&self, py: Python<'_>) -> PyResult<u64> {
        let e = &self.inner;
        run(py, || e.checkpoint())
    }

    /// Waits until everything done so far is durable.
    fn flush(&self, py: Python<'_>) -> PyResult<()> {
        let e = &self.inner;
        run(py, || e.flush())
    }

    /// Flushes, stops the journal and releases the directory. Later
    /// mutations raise `StorageError`. A no-op in memory.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let e = &self.inner;
        run(py, || e.close())
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&self, py: Python<'_>, _args: &Bound<'_, pyo3::types::PyTuple>) -> PyResult<bool> {
        self.close(py)?;
        Ok(false)
    }
}
