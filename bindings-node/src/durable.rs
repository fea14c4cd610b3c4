//! Durability (mirrors `unistock::durable`): `Engine.open` on a directory,
//! snapshots, flush, close, and what recovery did.

use crate::convert::{field, int_in, is_nullish, object_in, str_in};
use crate::engine::{Engine, settings};
use crate::errors::{arg, wrap};
use napi::bindgen_prelude::*;
use napi_derive::napi;
use std::sync::Arc;
use unistock::{Durability, DurableOptions};

/// What recovery found and did when the engine was opened.
#[napi(object, object_from_js = false)]
pub struct Recovery {
    pub snapshot_seq: BigInt,
    pub records_replayed: BigInt,
    pub events_replayed: BigInt,
    /// File of a torn last record that was dropped (and `tornTailOffset`).
    pub torn_tail_file: Option<String>,
    pub torn_tail_offset: Option<f64>,
    pub records_dropped: BigInt,
    pub expired_on_open: u32,
    pub micros: f64,
}

/// `Engine.open` settings: the engine settings plus durability.
#[napi(object, object_to_js = false)]
#[allow(dead_code)] // declares the TypeScript shape; read field by field in `open`
pub struct OpenOptions {
    /// `'sync'` (default: return after fsync; concurrent callers and batch
    /// calls share one), `'interval'` or `'interval:<ms>'` (fsync every 100
    /// or <ms> ms: a crash loses at most that window), `'none'` (written to
    /// the OS, never fsynced).
    pub durability: Option<String>,
    /// Take a snapshot once the journal grew this many bytes (0: only on
    /// `checkpoint()`; default 256 MiB).
    pub snapshot_bytes: Option<f64>,
    #[napi(ts_type = "ManualClock")]
    pub clock: Option<Unknown<'static>>,
    pub default_ttl_ms: Option<f64>,
    pub hold_retention_ms: Option<f64>,
    pub order_retention_ms: Option<f64>,
    pub transfer_retention_ms: Option<f64>,
    pub max_ttl_ms: Option<f64>,
    #[napi(ts_type = "number | null")]
    pub ledger_retention: Option<f64>,
    pub stripes: Option<f64>,
    pub max_lines: Option<f64>,
}

fn mode_name(m: Durability) -> String {
    match m {
        Durability::Sync => "sync".into(),
        Durability::None => "none".into(),
        Durability::Interval(ms) => format!("interval:{ms}"),
    }
}

#[napi]
impl Engine {
    /// Opens (or creates) a durable engine on a directory: recovers its
    /// state, then journals every mutation there. Throws `E_LOCKED` when
    /// another engine (in this process or another) has the directory open,
    /// `E_CORRUPT` for damage recovery must not paper over.
    ///
    /// Locking: none of the engine's (it is new); holds the directory's lock file.
    #[napi(
        factory,
        catch_unwind,
        ts_args_type = "path: string, options?: OpenOptions | undefined | null"
    )]
    pub fn open(env: Env, path: Unknown<'_>, options: Option<Unknown<'_>>) -> Result<Self> {
        wrap(&env, || {
            let path = str_in(&path, "path")?;
            let mut options_out = DurableOptions::default();
            if let Some(o) = options.as_ref().filter(|o| !is_nullish(o)) {
                let o = object_in(o, "options")?;
                if let Some(v) = field(&o, "durability")? {
                    let s = str_in(&v, "durability")?;
                    options_out.mode = Durability::parse(&s).ok_or_else(|| {
                        arg(
                            "durability",
                            "must be 'sync', 'interval', 'interval:<ms>' or 'none'",
                        )
                    })?;
                }
                if let Some(v) = field(&o, "snapshotBytes")? {
                    options_out.snapshot_bytes =
                        int_in(&v, "snapshotBytes", 0.0, 9_007_199_254_740_991.0)? as u64;
                }
            }
            let (config, default_ttl_ms) = settings(options.as_ref())?;
            Ok(Engine {
                inner: Arc::new(unistock::Engine::open(&path, config, options_out)?),
                default_ttl_ms,
            })
        })
    }

    /// `'sync'`, `'interval:<ms>'` or `'none'`; `null` in memory.
    #[napi(getter, catch_unwind)]
    pub fn durability(&self) -> Option<String> {
        self.inner.durability().map(mode_name)
    }

    /// What recovery did when this engine was opened (`null` in memory).
    #[napi(getter, catch_unwind)]
    pub fn recovery(&self) -> Option<Recovery> {
        self.inner.recovery().map(|r| Recovery {
            snapshot_seq: BigInt::from(r.snapshot_seq),
            records_replayed: BigInt::from(r.records_replayed),
            events_replayed: BigInt::from(r.events_replayed),
            torn_tail_file: r.torn_tail.as_ref().map(|t| t.0.clone()),
            torn_tail_offset: r.torn_tail.as_ref().map(|t| t.1 as f64),
            records_dropped: BigInt::from(r.records_dropped),
            expired_on_open: r.expired_on_open as u32,
            micros: r.micros as f64,
        })
    }

    /// Writes a snapshot and deletes the journal before it; returns its
    /// sequence number. Writers pause while the state is copied, not while
    /// it is written.
    ///
    /// Locking: every table and stripe while the state is copied.
    #[napi(catch_unwind)]
    pub fn checkpoint(&self, env: Env) -> Result<BigInt> {
        wrap(&env, || self.inner.checkpoint().map(BigInt::from))
    }

    /// Waits until everything done so far is durable.
    #[napi(catch_unwind)]
    pub fn flush(&self, env: Env) -> Result<()> {
        wrap(&env, || self.inner.flush())
    }

    /// Flushes, stops the journal and releases the directory. Later
    /// mutations throw `E_STORAGE`. A no-op in memory.
    #[napi(catch_unwind)]
    pub fn close(&self, env: Env) -> Result<()> {
        wrap(&env, || self.inner.close())
    }
}
