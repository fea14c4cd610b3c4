//! The change feed (mirrors `unistock::feed`): JS functions called on the
//! event loop with an array of `Change`, after every engine lock is released.

use crate::convert::JsQty;
use crate::engine::Engine;
use crate::errors::{arg, wrap};
use crate::ledger::{LedgerEntry, entry_out};
use crate::stock::Levels;
use napi::bindgen_prelude::*;
use napi::threadsafe_function::ThreadsafeFunctionCallMode;
use napi_derive::napi;
use unistock::Change as CoreChange;

/// A derived change. `kind`: `'stock_changed'` (sku, location, levels),
/// `'availability_changed'` (channel, sku, before, after), `'out_of_stock'`
/// or `'back_in_stock'` (channel, sku).
#[napi(object, object_from_js = false)]
pub struct Change {
    #[napi(
        ts_type = "'stock_changed' | 'availability_changed' | 'out_of_stock' | 'back_in_stock'"
    )]
    pub kind: String,
    pub seq: BigInt,
    pub sku: String,
    pub location: Option<String>,
    pub channel: Option<String>,
    pub levels: Option<Levels>,
    #[napi(ts_type = "Quantity")]
    pub before: Option<JsQty>,
    #[napi(ts_type = "Quantity")]
    pub after: Option<JsQty>,
}

fn change_out(c: &CoreChange) -> Change {
    Change {
        kind: c.kind().to_string(),
        seq: BigInt::from(c.seq()),
        sku: c.sku().to_string(),
        location: c.location().map(str::to_string),
        channel: c.channel().map(str::to_string),
        levels: c.levels().map(Into::into),
        before: c.before_after().map(|(b, _)| JsQty(b)),
        after: c.before_after().map(|(_, a)| JsQty(a)),
    }
}

/// A subscription, for `unsubscribe`.
#[napi]
pub struct Subscription {
    id: unistock::SubscriptionId,
}

#[napi]
impl Engine {
    /// Calls `callback(changes)` on the event loop with the derived changes
    /// of every later mutation (derived only while someone is subscribed).
    /// Like a listening socket, a subscription keeps the process alive until
    /// `unsubscribe`. The callback runs after the call that made the change
    /// has returned, so an exception it throws cannot undo the change: it
    /// is an uncaught exception, as a throwing event listener's is (Node
    /// exits unless `process.on('uncaughtException')` handles it), and
    /// later changes are still delivered.
    ///
    /// Locking: the subscriber list (write), briefly.
    #[napi(catch_unwind, ts_args_type = "callback: (changes: Change[]) => void")]
    pub fn subscribe(&self, env: Env, callback: Unknown<'_>) -> Result<Subscription> {
        wrap(&env, || {
            if callback.get_type().ok() != Some(ValueType::Function) {
                return Err(arg("callback", "must be a function"));
            }
            // SAFETY: checked to be a function.
            let f = unsafe { callback.cast::<Function<'_, Vec<Change>, ()>>() }
                .map_err(|e| arg("callback", e.reason.clone()))?;
            let tsfn = f
                .build_threadsafe_function::<Vec<Change>>()
                .callee_handled::<false>()
                .build()
                .map_err(|e| arg("callback", e.reason.clone()))?;
            let id = self.inner.subscribe(move |changes: &[CoreChange]| {
                tsfn.call(
                    changes.iter().map(change_out).collect(),
                    ThreadsafeFunctionCallMode::NonBlocking,
                );
            });
            Ok(Subscription { id })
        })
    }

    /// A resumable feed of the ledger: calls `callback(entries)` on the
    /// event loop with every ledger entry after sequence number `after`
    /// (the last one the host processed; 0 for all), oldest first and
    /// without gaps: first those already in the ledger, then each later
    /// mutation's once it is acknowledged (in `'sync'` mode: durable).
    /// After a restart the entries come back from the snapshot and the
    /// replayed journal, so storing the last `seq` processed resumes
    /// exactly there. Throws `E_LEDGER_TRUNCATED` when the ledger no longer
    /// holds `after`. Keeps the process alive until `unsubscribe`. An
    /// exception the callback throws is uncaught, as `subscribe`'s is, and
    /// the batch it threw on counts as delivered: a subscriber that must
    /// not lose entries stores the last `seq` it finished and, after a
    /// failure, subscribes again from there.
    ///
    /// Locking: as `eventsSince`, per delivery; the subscriber list, briefly.
    #[napi(
        catch_unwind,
        ts_args_type = "after: bigint | number, callback: (entries: LedgerEntry[]) => void"
    )]
    pub fn subscribe_from(
        &self,
        env: Env,
        after: Unknown<'_>,
        callback: Unknown<'_>,
    ) -> Result<Subscription> {
        wrap(&env, || {
            let after = crate::convert::seq_in(&after, "after")?;
            if callback.get_type().ok() != Some(ValueType::Function) {
                return Err(arg("callback", "must be a function"));
            }
            // SAFETY: checked to be a function.
            let f = unsafe { callback.cast::<Function<'_, Vec<LedgerEntry>, ()>>() }
                .map_err(|e| arg("callback", e.reason.clone()))?;
            let tsfn = f
                .build_threadsafe_function::<Vec<LedgerEntry>>()
                .callee_handled::<false>()
                .build()
                .map_err(|e| arg("callback", e.reason.clone()))?;
            let id =
                self.inner
                    .subscribe_from(after, move |entries: &[unistock::LedgerEntry]| {
                        tsfn.call(
                            entries.iter().cloned().map(entry_out).collect(),
                            ThreadsafeFunctionCallMode::NonBlocking,
                        );
                    })?;
            Ok(Subscription { id })
        })
    }

    /// Stops a subscription; false when it was already stopped.
    ///
    /// Locking: the subscriber list (write), briefly.
    #[napi(catch_unwind, ts_args_type = "subscription: Subscription")]
    pub fn unsubscribe(&self, env: Env, subscription: Unknown<'_>) -> Result<bool> {
        wrap(&env, || {
            // SAFETY: a ClassInstance checks the wrapped type before use.
            let sub = unsafe { subscription.cast::<ClassInstance<'_, Subscription>>() }
                .map_err(|_| arg("subscription", "must be a Subscription"))?;
            Ok(self.inner.unsubscribe(sub.id))
        })
    }
}
