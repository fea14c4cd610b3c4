//! Stock movements and reads (mirrors `unistock::stock`).

use crate::convert::{Ms, PyQty, arg_err, id_in, opt_id_in, qty_in, time_in};
use crate::engine::Engine;
use crate::errors::run;
use crate::records::record;
use pyo3::prelude::*;
use unistock::{Condition, Note};

record!(
    /// Every level of one SKU at one location.
    Levels {
        on_hand: PyQty,
        reserved: PyQty,
        allocated: PyQty,
        safety: PyQty,
        damaged: PyQty,
        quality_control: PyQty,
        unsellable: PyQty,
        in_transit: PyQty,
        incoming: PyQty,
        backordered: PyQty,
        available: PyQty,
    }
);

impl From<unistock::Levels> for Levels {
    fn from(l: unistock::Levels) -> Self {
        Levels {
            on_hand: PyQty(l.on_hand),
            reserved: PyQty(l.reserved),
            allocated: PyQty(l.allocated),
            safety: PyQty(l.safety),
            damaged: PyQty(l.damaged),
            quality_control: PyQty(l.quality_control),
            unsellable: PyQty(l.unsellable),
            in_transit: PyQty(l.in_transit),
            incoming: PyQty(l.incoming),
            backordered: PyQty(l.backordered),
            available: PyQty(l.available),
        }
    }
}

record!(
    /// The outcome of a count.
    CountReport {
        variance: PyQty,
        shortage: PyQty,
        levels: Levels,
    }
);

record!(
    /// The outcome of `Engine.reconcile`: the on_hand changes after the
    /// count's time that were replayed on top, the count applied, and
    /// whether a newer observation had superseded it (then nothing changed).
    Reconciliation {
        changes_after: PyQty,
        report: CountReport,
        superseded: bool,
    }
);

record!(
    /// What `Engine.bulk_load` did.
    LoadReport {
        records: u64,
        skus_created: u64,
    }
);

fn report_out(r: unistock::CountReport) -> CountReport {
    CountReport {
        variance: PyQty(r.variance),
        shortage: PyQty(r.shortage),
        levels: r.levels.into(),
    }
}

record!(
    /// An expected receipt (purchase order, ASN) not yet received.
    ExpectedReceipt {
        reference: String,
        qty: PyQty,
        due: Ms,
    }
);

pub(crate) fn condition_in(v: &Bound<'_, PyAny>, field: &'static str) -> PyResult<Condition> {
    match id_in(v, field)?.as_str() {
        "damaged" => Ok(Condition::Damaged),
        "quality_control" => Ok(Condition::QualityControl),
        _ => Err(arg_err(
            v.py(),
            field,
            "must be 'damaged' or 'quality_control'",
        )),
    }
}

/// Owned reason and reference, lent to the engine as a `Note`.
pub(crate) struct OwnedNote {
    reason: String,
    reference: Option<String>,
}

impl OwnedNote {
    pub(crate) fn new(
        reason: Option<&Bound<'_, PyAny>>,
        reference: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        Ok(OwnedNote {
            reason: opt_id_in(reason, "reason")?.unwrap_or_default(),
            reference: opt_id_in(reference, "reference")?,
        })
    }
    pub(crate) fn note(&self) -> Note<'_> {
        Note {
            reason: &self.reason,
            reference: self.reference.as_deref(),
        }
    }
}

impl Engine {
    /// The shape every stock movement shares: (sku, location, qty, note)
    /// checked and converted, the engine call made without the GIL, the
    /// levels returned.
    #[allow(clippy::too_many_arguments)]
    fn movement(
        &self,
        py: Python<'_>,
        sku: &Bound<'_, PyAny>,
        location: &Bound<'_, PyAny>,
        qty: &Bound<'_, PyAny>,
        reason: Option<&Bound<'_, PyAny>>,
        reference: Option<&Bound<'_, PyAny>>,
        f: impl FnOnce(
            &unistock::Engine,
            &str,
            &str,
            unistock::Qty,
            unistock::Note<'_>,
        ) -> unistock::Result<unistock::Levels>
        + Send,
    ) -> PyResult<Levels> {
        let (sku, loc) = (id_in(sku, "sku")?, id_in(location, "location")?);
        let qty = qty_in(qty, &sku)?;
        let note = OwnedNote::new(reason, reference)?;
        let e = &self.inner;
        run(py, || f(e, &sku, &loc, qty, note.note())).map(Into::into)
    }
}

#[pymethods]
impl Engine {
    /// Receives units at a location (creates the SKU on first receipt). A
    /// `reference` equal to an expected receipt's consumes it.
    ///
    /// Locking: the SKU's stripe (and the SKU-creation mutex for a new SKU).
    #[pyo3(signature = (sku, location, qty, *, reason=None, reference=None))]
    fn receive(
        &self,
        py: Python<'_>,
        sku: &Bound<'_, PyAny>,
        location: &Bound<'_, PyAny>,
        qty: &Bound<'_, PyAny>,
        reason: Option<&Bound<'_, PyAny>>,
        reference: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Levels> {
        self.movement(
            py,
            sku,
            location,
            qty,
            reason,
            reference,
            |e, s, l, q, n| e.receive(s, l, q, n),
        )
    }

    /// Sets on_hand to what was counted; reports the variance and any
    /// shortage (units promised beyond what is now sellable).
    ///
    /// Locking: the SKU's stripe.
    #[pyo3(signature = (sku, location, counted, *, reason=None, reference=None))]
    fn count(
        &self,
        py: Python<'_>,
        sku: &Bound<'_, PyAny>,
        location: &Bound<'_, PyAny>,
        counted: &Bound<'_, PyAny>,
        reason: Option<&Bound<'_, PyAny>>,
        reference: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<CountReport> {
        let (sku, loc) = (id_in(sku, "sku")?, id_in(location, "location")?);
        let counted = qty_in(counted, &sku)?;
        let note = OwnedNote::new(reason, reference)?;
        let e = &self.inner;
        run(py, || e.count(&sku, &loc, counted, note.note())).map(report_out)
    }

    /// Receives many records at once: `records` is a list of
    /// `(sku, location, qty)`; each adds `qty` to on_hand like `receive`
    /// (unknown SKUs are created, whole units). Every record is checked
    /// first: a bad one raises with nothing changed. `progress(done, total)`
    /// is called after each step of 65,536 records (exceptions it raises
    /// are reported through `sys.unraisablehook`).
    ///
    /// Locking: per step, each stripe it touches in turn.
    #[pyo3(signature = (records, *, reason=None, reference=None, progress=None))]
    fn bulk_load(
        &self,
        py: Python<'_>,
        records: &Bound<'_, PyAny>,
        reason: Option<&Bound<'_, PyAny>>,
        reference: Option<&Bound<'_, PyAny>>,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<LoadReport> {
        if let Some(p) = &progress
            && !p.bind(py).is_callable()
        {
            return Err(arg_err(py, "progress", "must be callable"));
        }
        let items = crate::convert::seq_items(records, "records")?;
        let mut owned: Vec<(String, String, unistock::Qty)> = Vec::with_capacity(items.len());
        for it in &items {
            let t = it
                .cast::<pyo3::types::PyTuple>()
                .ok()
                .filter(|t| t.len() == 3)
                .ok_or_else(|| {
                    arg_err(
                        py,
                        "records",
                        "each record must be a (sku, location, qty) tuple",
                    )
                })?;
            let sku = id_in(&t.get_item(0)?, "sku")?;
            let loc = id_in(&t.get_item(1)?, "location")?;
            let qty = qty_in(&t.get_item(2)?, &sku)?;
            owned.push((sku, loc, qty));
        }
        drop(items);
        let note = OwnedNote::new(reason, reference)?;
        let e = &self.inner;
        let r = run(py, || {
            let recs: Vec<unistock::LoadRecord<'_>> = owned
                .iter()
                .map(|(sku, location, qty)| unistock::LoadRecord {
                    sku,
                    location,
                    qty: *qty,
                })
                .collect();
            e.bulk_load(&recs, note.note(), &mut |done, total| {
                if let Some(p) = &progress {
                    Python::attach(|py| {
                        if let Err(err) = p.call1(py, (done, total)) {
                            err.write_unraisable(py, Some(p.bind(py)));
                        }
                    })
                }
            })
        })?;
        Ok(LoadReport {
            records: r.records,
            skus_created: r.skus_created,
        })
    }

    /// Applies an outside count (an ERP's, a store's) taken at `as_of`:
    /// on_hand is set to `counted` as of that time and the ledger's on_hand
    /// changes after it are replayed on top; the variance is reported as a
    /// count's (a 'reconciled' event). Holds stay on. The reason defaults
    /// to 'reconcile'. The newest observation wins: after a count made
    /// after `as_of`, or a reconciliation as of a later time, this one
    /// changes nothing (`superseded`); a retried one changes nothing more.
    ///
    /// Locking: the SKU's stripe (its ledger slice is read under it).
    #[pyo3(signature = (sku, location, counted, *, as_of, reason=None, reference=None))]
    #[allow(clippy::too_many_arguments)]
    fn reconcile(
        &self,
        py: Python<'_>,
        sku: &Bound<'_, PyAny>,
        location: &Bound<'_, PyAny>,
        counted: &Bound<'_, PyAny>,
        as_of: &Bound<'_, PyAny>,
        reason: Option<&Bound<'_, PyAny>>,
        reference: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Reconciliation> {
        let (sku, loc) = (id_in(sku, "sku")?, id_in(location, "location")?);
        let counted = qty_in(counted, &sku)?;
        let as_of = time_in(as_of, "as_of")?;
        let note = OwnedNote::new(reason, reference)?;
        let e = &self.inner;
        let r = run(py, || e.reconcile(&sku, &loc, counted, as_of, note.note()))?;
        Ok(Reconciliation {
            changes_after: PyQty(r.changes_after),
            report: report_out(r.report),
            superseded: r.superseded,
        })
    }

    /// Writes units off: sellable ones, or with `from_condition` units
    /// already damaged or in quality control.
    ///
    /// Locking: the SKU's stripe.
    #[pyo3(signature = (sku, location, qty, *, from_condition=None, reason=None, reference=None))]
    #[allow(clippy::too_many_arguments)]
    fn write_off(
        &self,
        py: Python<'_>,
        sku: &Bound<'_, PyAny>,
        location: &Bound<'_, PyAny>,
        qty: &Bound<'_, PyAny>,
        from_condition: Option<&Bound<'_, PyAny>>,
        reason: Option<&Bound<'_, PyAny>>,
        reference: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Levels> {
        let from = match from_condition {
            Some(c) if !c.is_none() => Some(condition_in(c, "from_condition")?),
            _ => None,
        };
        self.movement(
            py,
            sku,
            location,
            qty,
            reason,
            reference,
            move |e, s, l, q, n| e.write_off(s, l, q, from, n),
        )
    }

    /// Moves sellable units into a condition ('damaged', 'quality_control').
    ///
    /// Locking: the SKU's stripe.
    #[pyo3(signature = (sku, location, qty, condition, *, reason=None, reference=None))]
    #[allow(clippy::too_many_arguments)]
    fn mark_unsellable(
        &self,
        py: Python<'_>,
        sku: &Bound<'_, PyAny>,
        location: &Bound<'_, PyAny>,
        qty: &Bound<'_, PyAny>,
        condition: &Bound<'_, PyAny>,
        reason: Option<&Bound<'_, PyAny>>,
        reference: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Levels> {
        let cond = condition_in(condition, "condition")?;
        self.movement(
            py,
            sku,
            location,
            qty,
            reason,
            reference,
            move |e, s, l, q, n| e.mark_unsellable(s, l, q, cond, n),
        )
    }

    /// Moves units from a condition back to sellable.
    ///
    /// Locking: the SKU's stripe.
    #[pyo3(signature = (sku, location, qty, condition, *, reason=None, reference=None))]
    #[allow(clippy::too_many_arguments)]
    fn restore_sellable(
        &self,
        py: Python<'_>,
        sku: &Bound<'_, PyAny>,
        location: &Bound<'_, PyAny>,
        qty: &Bound<'_, PyAny>,
        condition: &Bound<'_, PyAny>,
        reason: Option<&Bound<'_, PyAny>>,
        reference: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Levels> {
        let cond = condition_in(condition, "condition")?;
        self.movement(
            py,
            sku,
            location,
            qty,
            reason,
            reference,
            move |e, s, l, q, n| e.restore_sellable(s, l, q, cond, n),
        )
    }

    /// Sets the safety stock of a SKU at a location (kept out of ATP).
    ///
    /// Locking: the SKU's stripe.
    #[pyo3(signature = (sku, location, qty, *, reason=None, reference=None))]
    fn set_safety(
        &self,
        py: Python<'_>,
        sku: &Bound<'_, PyAny>,
        location: &Bound<'_, PyAny>,
        qty: &Bound<'_, PyAny>,
        reason: Option<&Bound<'_, PyAny>>,
        reference: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Levels> {
        self.movement(
            py,
            sku,
            location,
            qty,
            reason,
            reference,
            |e, s, l, q, n| e.set_safety(s, l, q, n),
        )
    }

    /// Records an expected receipt (quantity and due date) under the host's
    /// reference; receiving with the same reference consumes it.
    ///
    /// Locking: the SKU's stripe.
    fn expect_receipt(
        &self,
        py: Python<'_>,
        sku: &Bound<'_, PyAny>,
        location: &Bound<'_, PyAny>,
        qty: &Bound<'_, PyAny>,
        due: &Bound<'_, PyAny>,
        reference: &Bound<'_, PyAny>,
    ) -> PyResult<Levels> {
        let (sku, loc) = (id_in(sku, "sku")?, id_in(location, "location")?);
        let qty = qty_in(qty, &sku)?;
        let due = time_in(due, "due")?;
        let reference = id_in(reference, "reference")?;
        let e = &self.inner;
        run(py, || e.expect_receipt(&sku, &loc, qty, due, &reference)).map(Into::into)
    }

    /// Cancels an expected receipt.
    ///
    /// Locking: the SKU's stripe.
    fn cancel_expected(
        &self,
        py: Python<'_>,
        sku: &Bound<'_, PyAny>,
        location: &Bound<'_, PyAny>,
        reference: &Bound<'_, PyAny>,
    ) -> PyResult<Levels> {
        let (sku, loc) = (id_in(sku, "sku")?, id_in(location, "location")?);
        let reference = id_in(reference, "reference")?;
        let e = &self.inner;
        run(py, || e.cancel_expected(&sku, &loc, &reference)).map(Into::into)
    }

    /// Expected receipts of a SKU at a location, by due date.
    ///
    /// Locking: the SKU's stripe.
    fn expected_receipts(
        &self,
        py: Python<'_>,
        sku: &Bound<'_, PyAny>,
        location: &Bound<'_, PyAny>,
    ) -> PyResult<Vec<ExpectedReceipt>> {
        let (sku, loc) = (id_in(sku, "sku")?, id_in(location, "location")?);
        let e = &self.inner;
        Ok(run(py, || e.expected_receipts(&sku, &loc))?
            .into_iter()
            .map(|(reference, qty, due)| ExpectedReceipt {
                reference,
                qty: PyQty(qty),
                due: Ms(due),
            })
            .collect())
    }

    /// Every level of a SKU at a location.
    ///
    /// Locking: the SKU's stripe.
    fn levels(
        &self,
        py: Python<'_>,
        sku: &Bound<'_, PyAny>,
        location: &Bound<'_, PyAny>,
    ) -> PyResult<Levels> {
        let (sku, loc) = (id_in(sku, "sku")?, id_in(location, "location")?);
        let e = &self.inner;
        run(py, || e.levels(&sku, &loc)).map(Into::into)
    }

    /// Available to promise at a location.
    ///
    /// Locking: the SKU's stripe.
    fn atp(
        &self,
        py: Python<'_>,
        sku: &Bound<'_, PyAny>,
        location: &Bound<'_, PyAny>,
    ) -> PyResult<PyQty> {
        let (sku, loc) = (id_in(sku, "sku")?, id_in(location, "location")?);
        let e = &self.inner;
        run(py, || e.atp(&sku, &loc)).map(PyQty)
    }
}
