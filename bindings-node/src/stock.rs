//! Stock movements and reads (mirrors `unistock::stock`).

use crate::convert::{JsQty, JsTime, OwnedNote, date_in, is_nullish, qty_in, str_in};
use crate::engine::Engine;
use crate::errors::{Core, arg, wrap};
use napi::bindgen_prelude::*;
use napi_derive::napi;
use unistock::Condition;

/// Every level of one SKU at one location.
#[napi(object, object_from_js = false)]
pub struct Levels {
    #[napi(ts_type = "Quantity")]
    pub on_hand: JsQty,
    #[napi(ts_type = "Quantity")]
    pub reserved: JsQty,
    #[napi(ts_type = "Quantity")]
    pub allocated: JsQty,
    #[napi(ts_type = "Quantity")]
    pub safety: JsQty,
    #[napi(ts_type = "Quantity")]
    pub damaged: JsQty,
    #[napi(ts_type = "Quantity")]
    pub quality_control: JsQty,
    #[napi(ts_type = "Quantity")]
    pub unsellable: JsQty,
    #[napi(ts_type = "Quantity")]
    pub in_transit: JsQty,
    #[napi(ts_type = "Quantity")]
    pub incoming: JsQty,
    /// Of the incoming units, those promised to orders as backorders.
    #[napi(ts_type = "Quantity")]
    pub backordered: JsQty,
    #[napi(ts_type = "Quantity")]
    pub available: JsQty,
}

impl From<unistock::Levels> for Levels {
    fn from(l: unistock::Levels) -> Self {
        Levels {
            on_hand: JsQty(l.on_hand),
            reserved: JsQty(l.reserved),
            allocated: JsQty(l.allocated),
            safety: JsQty(l.safety),
            damaged: JsQty(l.damaged),
            quality_control: JsQty(l.quality_control),
            unsellable: JsQty(l.unsellable),
            in_transit: JsQty(l.in_transit),
            incoming: JsQty(l.incoming),
            backordered: JsQty(l.backordered),
            available: JsQty(l.available),
        }
    }
}

/// The outcome of a count.
#[napi(object, object_from_js = false)]
pub struct CountReport {
    #[napi(ts_type = "Quantity")]
    pub variance: JsQty,
    #[napi(ts_type = "Quantity")]
    pub shortage: JsQty,
    pub levels: Levels,
}

/// What `bulkLoad` did.
#[napi(object, object_from_js = false)]
pub struct LoadReport {
    pub records: f64,
    pub skus_created: f64,
}

fn report_out(r: unistock::CountReport) -> CountReport {
    CountReport {
        variance: JsQty(r.variance),
        shortage: JsQty(r.shortage),
        levels: r.levels.into(),
    }
}

/// The outcome of `reconcile`: the on_hand changes after the count's time
/// that were replayed on top, the count applied, and whether a newer
/// observation had superseded it (then nothing changed).
#[napi(object, object_from_js = false)]
pub struct Reconciliation {
    #[napi(ts_type = "Quantity")]
    pub changes_after: JsQty,
    pub report: CountReport,
    pub superseded: bool,
}

/// An expected receipt not yet received.
#[napi(object, object_from_js = false)]
pub struct ExpectedReceipt {
    pub reference: String,
    #[napi(ts_type = "Quantity")]
    pub qty: JsQty,
    #[napi(ts_type = "Date")]
    pub due: JsTime,
}

/// Why units are not sellable: `'damaged'` or `'quality_control'`.
pub(crate) fn condition_in(v: &Unknown<'_>, field: &'static str) -> Core<Condition> {
    match str_in(v, field)?.as_str() {
        "damaged" => Ok(Condition::Damaged),
        "quality_control" => Ok(Condition::QualityControl),
        _ => Err(arg(field, "must be 'damaged' or 'quality_control'")),
    }
}

/// Why a movement happened and the host's reference for it.
#[napi(object, object_to_js = false)]
#[allow(dead_code)] // declares the TypeScript shape; read field by field in `convert`
pub struct Note {
    pub reason: Option<String>,
    pub reference: Option<String>,
}

impl Engine {
    /// The shape every stock movement shares: (sku, location, qty, note)
    /// checked and converted, the engine called, the levels returned.
    fn movement(
        &self,
        env: &Env,
        sku: &Unknown<'_>,
        location: &Unknown<'_>,
        qty: &Unknown<'_>,
        note: Option<&Unknown<'_>>,
        f: impl FnOnce(
            &unistock::Engine,
            &str,
            &str,
            unistock::Qty,
            unistock::Note<'_>,
        ) -> Core<unistock::Levels>,
    ) -> Result<Levels> {
        wrap(env, || {
            let (sku, loc) = (str_in(sku, "sku")?, str_in(location, "location")?);
            let qty = qty_in(qty, &sku)?;
            let note = OwnedNote::new(note)?;
            Ok(f(&self.inner, &sku, &loc, qty, note.note())?.into())
        })
    }
}

#[napi]
impl Engine {
    /// Receives units at a location (creates the SKU on first receipt). A
    /// `note.reference` equal to an expected receipt's consumes it.
    ///
    /// Locking: the SKU's stripe (and the SKU-creation mutex for a new SKU).
    #[napi(
        catch_unwind,
        ts_args_type = "sku: string, location: string, qty: Quantity, note?: Note | undefined | null"
    )]
    pub fn receive(
        &self,
        env: Env,
        sku: Unknown<'_>,
        location: Unknown<'_>,
        qty: Unknown<'_>,
        note: Option<Unknown<'_>>,
    ) -> Result<Levels> {
        self.movement(
            &env,
            &sku,
            &location,
            &qty,
            note.as_ref(),
            |e, s, l, q, n| e.receive(s, l, q, n),
        )
    }

    /// Sets on_hand to what was counted; reports the variance and any
    /// shortage (units promised beyond what is now sellable).
    ///
    /// Locking: the SKU's stripe.
    #[napi(
        catch_unwind,
        ts_args_type = "sku: string, location: string, counted: Quantity, note?: Note | undefined | null"
    )]
    pub fn count(
        &self,
        env: Env,
        sku: Unknown<'_>,
        location: Unknown<'_>,
        counted: Unknown<'_>,
        note: Option<Unknown<'_>>,
    ) -> Result<CountReport> {
        wrap(&env, || {
            let (sku, loc) = (str_in(&sku, "sku")?, str_in(&location, "location")?);
            let counted = qty_in(&counted, &sku)?;
            let note = OwnedNote::new(note.as_ref())?;
            let r = self.inner.count(&sku, &loc, counted, note.note())?;
            Ok(report_out(r))
        })
    }

    /// Receives many records at once: `records` is an array of
    /// `[sku, location, qty]`; each adds `qty` to on_hand like `receive`
    /// (unknown SKUs are created, whole units). Every record is checked
    /// first: a bad one throws with nothing changed. `progress(done,
    /// total)` is called after each step of 65,536 records; if it throws,
    /// it is not called again and its exception is rethrown once the load
    /// has finished.
    ///
    /// Locking: per step, each stripe it touches in turn.
    #[napi(
        catch_unwind,
        ts_args_type = "records: Array<[string, string, Quantity]>, options?: { reason?: string, reference?: string, progress?: (done: number, total: number) => void } | undefined | null"
    )]
    pub fn bulk_load(
        &self,
        env: Env,
        records: Unknown<'_>,
        options: Option<Unknown<'_>>,
    ) -> Result<LoadReport> {
        let shape = "each record must be [sku, location, qty]";
        let mut progress: Option<Function<'_, FnArgs<(f64, f64)>, Unknown<'_>>> = None;
        let prepared = (|| {
            let mut owned: Vec<(String, String, unistock::Qty)> = Vec::new();
            for item in crate::convert::array_in(&records, "records")? {
                if !item.is_array().unwrap_or(false) {
                    return Err(arg("records", shape));
                }
                let parts = crate::convert::array_in(&item, "records")?;
                if parts.len() != 3 {
                    return Err(arg("records", shape));
                }
                let sku = str_in(&parts[0], "sku")?;
                let loc = str_in(&parts[1], "location")?;
                let qty = qty_in(&parts[2], &sku)?;
                owned.push((sku, loc, qty));
            }
            let note = OwnedNote::new(options.as_ref())?;
            if let Some(o) = options.as_ref().filter(|o| !crate::convert::is_nullish(o)) {
                let o = crate::convert::object_in(o, "options")?;
                if let Some(p) = crate::convert::field(&o, "progress")? {
                    if p.get_type().ok() != Some(ValueType::Function) {
                        return Err(arg("progress", "must be a function"));
                    }
                    // SAFETY: checked to be a function.
                    progress = Some(
                        unsafe { p.cast() }
                            .map_err(|e: Error| arg("progress", e.reason.clone()))?,
                    );
                }
            }
            Ok((owned, note))
        })();
        let (owned, note) = match prepared {
            Ok(p) => p,
            Err(e) => return wrap(&env, || Err(e)),
        };
        let recs: Vec<unistock::LoadRecord<'_>> = owned
            .iter()
            .map(|(sku, location, qty)| unistock::LoadRecord {
                sku,
                location,
                qty: *qty,
            })
            .collect();
        let mut thrown: Option<Error> = None;
        let result = wrap(&env, || {
            self.inner
                .bulk_load(&recs, note.note(), &mut |done, total| {
                    if let (Some(p), None) = (&progress, &thrown)
                        && let Err(e) = p.call((done as f64, total as f64).into())
                    {
                        thrown = Some(e);
                    }
                })
                .map(|r| LoadReport {
                    records: r.records as f64,
                    skus_created: r.skus_created as f64,
                })
        });
        match thrown {
            Some(e) => Err(e),
            None => result,
        }
    }

    /// Applies an outside count (an ERP's, a store's) taken at `asOf`:
    /// on_hand is set to `counted` as of that time and the ledger's on_hand
    /// changes after it are replayed on top; the variance is reported as a
    /// count's (a `'reconciled'` event). Holds stay on. The reason defaults
    /// to `'reconcile'`. The newest observation wins: after a count made
    /// after `asOf`, or a reconciliation as of a later time, this one
    /// changes nothing (`superseded`); a retried one changes nothing more.
    ///
    /// Locking: the SKU's stripe (its ledger slice is read under it).
    #[napi(
        catch_unwind,
        ts_args_type = "sku: string, location: string, counted: Quantity, asOf: Date, note?: Note | undefined | null"
    )]
    pub fn reconcile(
        &self,
        env: Env,
        sku: Unknown<'_>,
        location: Unknown<'_>,
        counted: Unknown<'_>,
        as_of: Unknown<'_>,
        note: Option<Unknown<'_>>,
    ) -> Result<Reconciliation> {
        wrap(&env, || {
            let (sku, loc) = (str_in(&sku, "sku")?, str_in(&location, "location")?);
            let counted = qty_in(&counted, &sku)?;
            let as_of = crate::convert::date_in(&as_of, "asOf")?;
            let note = OwnedNote::new(note.as_ref())?;
            let r = self
                .inner
                .reconcile(&sku, &loc, counted, as_of, note.note())?;
            Ok(Reconciliation {
                changes_after: JsQty(r.changes_after),
                report: report_out(r.report),
                superseded: r.superseded,
            })
        })
    }

    /// Writes units off: sellable ones, or with `fromCondition` units
    /// already damaged or in quality control.
    ///
    /// Locking: the SKU's stripe.
    #[napi(
        catch_unwind,
        ts_args_type = "sku: string, location: string, qty: Quantity, fromCondition?: Condition | undefined | null, note?: Note | undefined | null"
    )]
    pub fn write_off(
        &self,
        env: Env,
        sku: Unknown<'_>,
        location: Unknown<'_>,
        qty: Unknown<'_>,
        from_condition: Option<Unknown<'_>>,
        note: Option<Unknown<'_>>,
    ) -> Result<Levels> {
        let from = match from_condition.filter(|v| !is_nullish(v)) {
            Some(c) => Some(wrap(&env, || condition_in(&c, "fromCondition"))?),
            None => None,
        };
        self.movement(
            &env,
            &sku,
            &location,
            &qty,
            note.as_ref(),
            move |e, s, l, q, n| e.write_off(s, l, q, from, n),
        )
    }

    /// Moves sellable units into a condition (`'damaged'`, `'quality_control'`).
    ///
    /// Locking: the SKU's stripe.
    #[napi(
        catch_unwind,
        ts_args_type = "sku: string, location: string, qty: Quantity, condition: Condition, note?: Note | undefined | null"
    )]
    pub fn mark_unsellable(
        &self,
        env: Env,
        sku: Unknown<'_>,
        location: Unknown<'_>,
        qty: Unknown<'_>,
        condition: Unknown<'_>,
        note: Option<Unknown<'_>>,
    ) -> Result<Levels> {
        let cond = wrap(&env, || condition_in(&condition, "condition"))?;
        self.movement(
            &env,
            &sku,
            &location,
            &qty,
            note.as_ref(),
            move |e, s, l, q, n| e.mark_unsellable(s, l, q, cond, n),
        )
    }

    /// Moves units from a condition back to sellable.
    ///
    /// Locking: the SKU's stripe.
    #[napi(
        catch_unwind,
        ts_args_type = "sku: string, location: string, qty: Quantity, condition: Condition, note?: Note | undefined | null"
    )]
    pub fn restore_sellable(
        &self,
        env: Env,
        sku: Unknown<'_>,
        location: Unknown<'_>,
        qty: Unknown<'_>,
        condition: Unknown<'_>,
        note: Option<Unknown<'_>>,
    ) -> Result<Levels> {
        let cond = wrap(&env, || condition_in(&condition, "condition"))?;
        self.movement(
            &env,
            &sku,
            &location,
            &qty,
            note.as_ref(),
            move |e, s, l, q, n| e.restore_sellable(s, l, q, cond, n),
        )
    }

    /// Sets the safety stock of a SKU at a location (kept out of ATP).
    ///
    /// Locking: the SKU's stripe.
    #[napi(
        catch_unwind,
        ts_args_type = "sku: string, location: string, qty: Quantity, note?: Note | undefined | null"
    )]
    pub fn set_safety(
        &self,
        env: Env,
        sku: Unknown<'_>,
        location: Unknown<'_>,
        qty: Unknown<'_>,
        note: Option<Unknown<'_>>,
    ) -> Result<Levels> {
        self.movement(
            &env,
            &sku,
            &location,
            &qty,
            note.as_ref(),
            |e, s, l, q, n| e.set_safety(s, l, q, n),
        )
    }

    /// Records an expected receipt under the host's reference; receiving
    /// with the same reference consumes it.
    ///
    /// Locking: the SKU's stripe.
    #[napi(
        catch_unwind,
        ts_args_type = "sku: string, location: string, qty: Quantity, due: Date, reference: string"
    )]
    pub fn expect_receipt(
        &self,
        env: Env,
        sku: Unknown<'_>,
        location: Unknown<'_>,
        qty: Unknown<'_>,
        due: Unknown<'_>,
        reference: Unknown<'_>,
    ) -> Result<Levels> {
        wrap(&env, || {
            let (sku, loc) = (str_in(&sku, "sku")?, str_in(&location, "location")?);
            let qty = qty_in(&qty, &sku)?;
            let due = date_in(&due, "due")?;
            let reference = str_in(&reference, "reference")?;
            Ok(self
                .inner
                .expect_receipt(&sku, &loc, qty, due, &reference)?
                .into())
        })
    }

    /// Cancels an expected receipt.
    ///
    /// Locking: the SKU's stripe.
    #[napi(
        catch_unwind,
        ts_args_type = "sku: string, location: string, reference: string"
    )]
    pub fn cancel_expected(
        &self,
        env: Env,
        sku: Unknown<'_>,
        location: Unknown<'_>,
        reference: Unknown<'_>,
    ) -> Result<Levels> {
        wrap(&env, || {
            let (sku, loc) = (str_in(&sku, "sku")?, str_in(&location, "location")?);
            let reference = str_in(&reference, "reference")?;
            Ok(self.inner.cancel_expected(&sku, &loc, &reference)?.into())
        })
    }

    /// Expected receipts of a SKU at a location, by due date.
    ///
    /// Locking: the SKU's stripe.
    #[napi(catch_unwind, ts_args_type = "sku: string, location: string")]
    pub fn expected_receipts(
        &self,
        env: Env,
        sku: Unknown<'_>,
        location: Unknown<'_>,
    ) -> Result<Vec<ExpectedReceipt>> {
        wrap(&env, || {
            let (sku, loc) = (str_in(&sku, "sku")?, str_in(&location, "location")?);
            Ok(self
                .inner
                .expected_receipts(&sku, &loc)?
                .into_iter()
                .map(|(reference, qty, due)| ExpectedReceipt {
                    reference,
                    qty: JsQty(qty),
                    due: JsTime(due),
                })
                .collect())
        })
    }

    /// Every level of a SKU at a location.
    ///
    /// Locking: the SKU's stripe.
    #[napi(catch_unwind, ts_args_type = "sku: string, location: string")]
    pub fn levels(&self, env: Env, sku: Unknown<'_>, location: Unknown<'_>) -> Result<Levels> {
        wrap(&env, || {
            let (sku, loc) = (str_in(&sku, "sku")?, str_in(&location, "location")?);
            Ok(self.inner.levels(&sku, &loc)?.into())
        })
    }

    /// Available to promise at a location.
    ///
    /// Locking: the SKU's stripe.
    #[napi(
        catch_unwind,
        ts_args_type = "sku: string, location: string",
        ts_return_type = "Quantity"
    )]
    pub fn atp(&self, env: Env, sku: Unknown<'_>, location: Unknown<'_>) -> Result<JsQty> {
        wrap(&env, || {
            let (sku, loc) = (str_in(&sku, "sku")?, str_in(&location, "location")?);
            Ok(JsQty(self.inner.atp(&sku, &loc)?))
        })
    }
}
