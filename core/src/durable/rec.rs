//! Journal records: what each mutation needs to be done again, in a
//! compact binary form (little-endian integers, length-prefixed strings;
//! topology specs and routing plans as JSON, they are rare).
//!
//! A record is written by the transaction that assigned its sequence
//! numbers, inside that transaction's locks; replaying the records in
//! sequence order through the same code gives the same state (recovery
//! checks that each record yields exactly the sequence numbers it had).

use crate::channel::ChannelSpec;
use crate::hold::HoldLine;
use crate::location::LocationSpec;
use crate::qty::Qty;
use crate::routing::Plan;
use crate::stock::Condition;
use std::borrow::Cow;

/// A record's body.
#[derive(Clone, Debug)]
pub(crate) enum Rec<'a> {
    DeclareSku {
        sku: &'a str,
        scale: u8,
    },
    /// receive, count, write-off, condition changes, safety stock.
    Stock {
        op: StockOp,
        sku: &'a str,
        loc: &'a str,
        qty: Qty,
        reason: &'a str,
        reference: Option<&'a str>,
    },
    /// An outside count applied as of `as_of_ms`: on_hand set to `qty`
    /// (the count plus the changes after `as_of_ms`, as worked out when it
    /// was applied).
    Reconcile {
        sku: &'a str,
        loc: &'a str,
        qty: Qty,
        as_of_ms: u64,
        reason: &'a str,
        reference: Option<&'a str>,
    },
    ExpectReceipt {
        sku: &'a str,
        loc: &'a str,
        qty: Qty,
        due_ms: u64,
        reference: &'a str,
    },
    CancelExpected {
        sku: &'a str,
        loc: &'a str,
        reference: &'a str,
    },
    Hold {
        id: &'a str,
        channel: &'a str,
        ttl_ms: u64,
        lines: Cow<'a, [HoldLine<'a>]>,
        /// A pool hold (see [`crate::pool`]).
        pool: bool,
    },
    Release {
        hold: &'a str,
    },
    Expire {
        hold: &'a str,
    },
    Extend {
        hold: &'a str,
        ttl_ms: u64,
    },
    Commit {
        hold: &'a str,
        order: &'a str,
    },
    TillSale {
        sale: &'a str,
        channel: &'a str,
        lines: Cow<'a, [HoldLine<'a>]>,
    },
    Settle {
        fulfil: bool,
        order: &'a str,
        lines: Cow<'a, [HoldLine<'a>]>,
    },
    Dispatch {
        id: &'a str,
        sku: &'a str,
        from: &'a str,
        to: &'a str,
        qty: Qty,
    },
    ReceiveTransfer {
        id: &'a str,
        qty: Option<Qty>,
    },
    CancelTransfer {
        id: &'a str,
    },
    UpsertLocation(Cow<'a, LocationSpec>),
    SetClosed {
        loc: &'a str,
        closed: bool,
    },
    UpsertChannel(Cow<'a, ChannelSpec>),
    RemoveFromChannel {
        channel: &'a str,
        loc: &'a str,
    },
    Place {
        order: &'a str,
        digest: u64,
        channel: &'a str,
        lines: Cow<'a, [HoldLine<'a>]>,
        plan: Cow<'a, Plan>,
        /// Click & reserve: the hours at the store (written as its own
        /// record type, so records without it read as before).
        reserve_hours: Option<u32>,
    },
    /// Pool claims a topology change left unbindable: (SKU, units), each
    /// reported as a `Shortage` event.
    PoolShortage {
        /// The topology change's reference (the location or channel).
        reference: &'a str,
        items: Vec<(&'a str, i64)>,
    },
    /// An order's backorders allocated from stock that arrived.
    FillBackorders {
        order: &'a str,
    },
    /// An order's open backorders cancelled.
    CancelBackorders {
        order: &'a str,
    },
    /// An order placed from a hold (the hold's units become the order's).
    PlaceHold {
        hold: &'a str,
        order: &'a str,
        digest: u64,
        plan: Cow<'a, Plan>,
        reserve_hours: Option<u32>,
    },
    Reroute {
        order: &'a str,
        plan: Cow<'a, Plan>,
        reserve_hours: Option<u32>,
    },
    /// A click & reserve order's time at the store ended (at the record's
    /// time): what was still allocated is cancelled.
    EndReservation {
        order: &'a str,
    },
    /// One stripe's records of a bulk load step, in the order applied.
    BulkLoad {
        reason: &'a str,
        reference: Option<&'a str>,
        items: Cow<'a, [(&'a str, &'a str, Qty)]>,
    },
    /// KPI counters moved by refused requests (no sequence number: counts
    /// add up in any order).
    Refused {
        holds: u64,
        till_sales: u64,
        orders: u64,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StockOp {
    Receive,
    Count,
    WriteOff(Option<Condition>),
    MarkUnsellable(Condition),
    RestoreSellable(Condition),
    SetSafety,
}

/// Writes the parts of a record.
pub(crate) trait Put {
    fn u8(&mut self, v: u8);
    fn bytes(&mut self, v: &[u8]);
    fn u64(&mut self, v: u64) {
        self.bytes(&v.to_le_bytes());
    }
    fn str(&mut self, v: &str) {
        self.u64(v.len() as u64);
        self.bytes(v.as_bytes());
    }
    fn qty(&mut self, q: Qty) {
        self.u64(q.mantissa() as u64);
        self.u8(q.scale());
    }
    fn opt_str(&mut self, v: Option<&str>) {
        match v {
            None => self.u8(0),
            Some(s) => {
                self.u8(1);
                self.str(s);
            }
        }
    }
    fn lines(&mut self, lines: &[HoldLine<'_>]) {
        self.u64(lines.len() as u64);
        for l in lines {
            self.str(l.sku);
            self.qty(l.qty);
            self.opt_str(l.location);
        }
    }
    /// Click & reserve hours, when the record type says they are there.
    fn opt_hours(&mut self, hours: Option<u32>) {
        if let Some(h) = hours {
            self.u64(u64::from(h));
        }
    }
    fn json<T: serde::Serialize>(&mut self, v: &T) {
        let s = serde_json::to_string(v).expect("specs and plans serialize");
        self.str(&s);
    }
}

impl Put for Vec<u8> {
    #[inline]
    fn u8(&mut self, v: u8) {
        self.push(v);
    }
    #[inline]
    fn bytes(&mut self, v: &[u8]) {
        self.extend_from_slice(v);
    }
}

fn cond_code(c: Option<Condition>) -> u8 {
    match c {
        None => 0,
        Some(Condition::Damaged) => 1,
        Some(Condition::QualityControl) => 2,
    }
}

fn cond_of(code: u8) -> Result<Option<Condition>, String> {
    match code {
        0 => Ok(None),
        1 => Ok(Some(Condition::Damaged)),
        2 => Ok(Some(Condition::QualityControl)),
        c => Err(format!("unknown condition {c}")),
    }
}

impl<'a> Rec<'a> {
    /// A stock movement's record.
    pub(crate) fn stock(
        op: StockOp,
        sku: &'a str,
        loc: &'a str,
        qty: Qty,
        note: crate::engine::Note<'a>,
    ) -> Rec<'a> {
        Rec::Stock {
            op,
            sku,
            loc,
            qty,
            reason: note.reason,
            reference: note.reference,
        }
    }

    /// Appends the encoded record.
    pub(crate) fn encode(&self, w: &mut impl Put) {
        match self {
            Rec::DeclareSku { sku, scale } => {
                w.u8(1);
                w.str(sku);
                w.u8(*scale);
            }
            Rec::Stock {
                op,
                sku,
                loc,
                qty,
                reason,
                reference,
            } => {
                let (code, cond) = match *op {
                    StockOp::Receive => (2, None),
                    StockOp::Count => (3, None),
                    StockOp::WriteOff(c) => (4, c),
                    StockOp::MarkUnsellable(c) => (5, Some(c)),
                    StockOp::RestoreSellable(c) => (6, Some(c)),
                    StockOp::SetSafety => (7, None),
                };
                w.u8(code);
                w.u8(cond_code(cond));
                w.str(sku);
                w.str(loc);
                w.qty(*qty);
                w.str(reason);
                w.opt_str(*reference);
            }
            Rec::Reconcile {
                sku,
                loc,
                qty,
                as_of_ms,
                reason,
                reference,
            } => {
                w.u8(45);
                w.str(sku);
                w.str(loc);
                w.qty(*qty);
                w.u64(*as_of_ms);
                w.str(reason);
                w.opt_str(*reference);
            }
            Rec::ExpectReceipt {
                sku,
                loc,
                qty,
                due_ms,
                reference,
            } => {
                w.u8(8);
                w.str(sku);
                w.str(loc);
                w.qty(*qty);
                w.u64(*due_ms);
                w.str(reference);
            }
            Rec::CancelExpected {
                sku,
                loc,
                reference,
            } => {
                w.u8(9);
                w.str(sku);
                w.str(loc);
                w.str(reference);
            }
            Rec::Hold {
                id,
                channel,
                ttl_ms,
                lines,
                pool,
            } => {
                // A pool hold has its own tag: journals written before pool
                // holds existed read the same.
                w.u8(if *pool { 40 } else { 10 });
                w.str(id);
                w.str(channel);
                w.u64(*ttl_ms);
                w.lines(lines);
            }
            Rec::Release { hold } => {
                w.u8(11);
                w.str(hold);
            }
            Rec::Expire { hold } => {
                w.u8(12);
                w.str(hold);
            }
            Rec::Extend { hold, ttl_ms } => {
                w.u8(13);
                w.str(hold);
                w.u64(*ttl_ms);
            }
            Rec::Commit { hold, order } => {
                w.u8(14);
                w.str(hold);
                w.str(order);
            }
            Rec::TillSale {
                sale,
                channel,
                lines,
            } => {
                w.u8(15);
                w.str(sale);
                w.str(channel);
                w.lines(lines);
            }
            Rec::Settle {
                fulfil,
                order,
                lines,
            } => {
                w.u8(16);
                w.u8(*fulfil as u8);
                w.str(order);
                w.lines(lines);
            }
            Rec::Dispatch {
                id,
                sku,
                from,
                to,
                qty,
            } => {
                w.u8(17);
                w.str(id);
                w.str(sku);
                w.str(from);
                w.str(to);
                w.qty(*qty);
            }
            Rec::ReceiveTransfer { id, qty } => {
                w.u8(18);
                w.str(id);
                match qty {
                    None => w.u8(0),
                    Some(q) => {
                        w.u8(1);
                        w.qty(*q);
                    }
                }
            }
            Rec::CancelTransfer { id } => {
                w.u8(19);
                w.str(id);
            }
            Rec::UpsertLocation(spec) => {
                w.u8(20);
                w.json(spec.as_ref());
            }
            Rec::SetClosed { loc, closed } => {
                w.u8(21);
                w.str(loc);
                w.u8(*closed as u8);
            }
            Rec::UpsertChannel(spec) => {
                w.u8(22);
                w.json(spec.as_ref());
            }
            Rec::RemoveFromChannel { channel, loc } => {
                w.u8(23);
                w.str(channel);
                w.str(loc);
            }
            Rec::Place {
                order,
                digest,
                channel,
                lines,
                plan,
                reserve_hours,
            } => {
                w.u8(if reserve_hours.is_some() { 46 } else { 24 });
                w.str(order);
                w.u64(*digest);
                w.str(channel);
                w.lines(lines);
                w.json(plan.as_ref());
                w.opt_hours(*reserve_hours);
            }
            Rec::PoolShortage { reference, items } => {
                w.u8(44);
                w.str(reference);
                w.u64(items.len() as u64);
                for (sku, q) in items {
                    w.str(sku);
                    w.u64(*q as u64);
                }
            }
            Rec::FillBackorders { order } => {
                w.u8(42);
                w.str(order);
            }
            Rec::CancelBackorders { order } => {
                w.u8(43);
                w.str(order);
            }
            Rec::PlaceHold {
                hold,
                order,
                digest,
                plan,
                reserve_hours,
            } => {
                w.u8(if reserve_hours.is_some() { 47 } else { 41 });
                w.str(hold);
                w.str(order);
                w.u64(*digest);
                w.json(plan.as_ref());
                w.opt_hours(*reserve_hours);
            }
            Rec::Reroute {
                order,
                plan,
                reserve_hours,
            } => {
                w.u8(if reserve_hours.is_some() { 48 } else { 25 });
                w.str(order);
                w.json(plan.as_ref());
                w.opt_hours(*reserve_hours);
            }
            Rec::EndReservation { order } => {
                w.u8(49);
                w.str(order);
            }
            Rec::BulkLoad {
                reason,
                reference,
                items,
            } => {
                w.u8(27);
                w.str(reason);
                w.opt_str(*reference);
                w.u64(items.len() as u64);
                for (sku, loc, qty) in items.iter() {
                    w.str(sku);
                    w.str(loc);
                    w.qty(*qty);
                }
            }
            Rec::Refused {
                holds,
                till_sales,
                orders,
            } => {
                w.u8(26);
                w.u64(*holds);
                w.u64(*till_sales);
                w.u64(*orders);
            }
        }
    }
}

/// Reads the parts of a record.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
}

type R<T> = Result<T, String>;

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }
    fn take(&mut self, n: usize) -> R<&'a [u8]> {
        if self.buf.len() < n {
            return Err("record ends early".into());
        }
        let (a, b) = self.buf.split_at(n);
        self.buf = b;
        Ok(a)
    }
    pub(crate) fn u8(&mut self) -> R<u8> {
        Ok(self.take(1)?[0])
    }
    pub(crate) fn u64(&mut self) -> R<u64> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }
    fn str(&mut self) -> R<&'a str> {
        let n = self.u64()?;
        let n = usize::try_from(n).map_err(|_| "string too long".to_string())?;
        std::str::from_utf8(self.take(n)?).map_err(|_| "string is not UTF-8".to_string())
    }
    fn bool(&mut self) -> R<bool> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            b => Err(format!("bad flag {b}")),
        }
    }
    fn qty(&mut self) -> R<Qty> {
        let m = self.u64()? as i64;
        let s = self.u8()?;
        if s > crate::qty::MAX_SCALE {
            return Err(format!("bad scale {s}"));
        }
        Ok(Qty::from_minor(m, s))
    }
    fn opt_str(&mut self) -> R<Option<&'a str>> {
        Ok(if self.bool()? {
            Some(self.str()?)
        } else {
            None
        })
    }
    fn lines(&mut self) -> R<Cow<'a, [HoldLine<'a>]>> {
        let n = self.u64()?;
        if n > self.buf.len() as u64 {
            return Err("too many lines".into());
        }
        let mut out = Vec::with_capacity(n as usize);
        for _ in 0..n {
            let sku = self.str()?;
            let qty = self.qty()?;
            let location = self.opt_str()?;
            out.push(HoldLine { sku, qty, location });
        }
        Ok(Cow::Owned(out))
    }
    fn hours_if(&mut self, present: bool) -> R<Option<u32>> {
        if !present {
            return Ok(None);
        }
        match u32::try_from(self.u64()?) {
            Ok(h) if h > 0 => Ok(Some(h)),
            _ => Err("bad click & reserve hours".into()),
        }
    }
    fn json<T: serde::de::DeserializeOwned + Clone>(&mut self) -> R<Cow<'a, T>> {
        let s = self.str()?;
        serde_json::from_str(s)
            .map(Cow::Owned)
            .map_err(|e| format!("bad JSON: {e}"))
    }

    /// Decodes one record body; everything must be consumed.
    pub(crate) fn rec(mut self) -> R<Rec<'a>> {
        let tag = self.u8()?;
        let r = match tag {
            1 => Rec::DeclareSku {
                sku: self.str()?,
                scale: self.u8()?,
            },
            2..=7 => {
                let cond = cond_of(self.u8()?)?;
                let need = |c: Option<Condition>| c.ok_or_else(|| "missing condition".to_string());
                let op = match tag {
                    2 => StockOp::Receive,
                    3 => StockOp::Count,
                    4 => StockOp::WriteOff(cond),
                    5 => StockOp::MarkUnsellable(need(cond)?),
                    6 => StockOp::RestoreSellable(need(cond)?),
                    _ => StockOp::SetSafety,
                };
                Rec::Stock {
                    op,
                    sku: self.str()?,
                    loc: self.str()?,
                    qty: self.qty()?,
                    reason: self.str()?,
                    reference: self.opt_str()?,
                }
            }
            45 => Rec::Reconcile {
                sku: self.str()?,
                loc: self.str()?,
                qty: self.qty()?,
                as_of_ms: self.u64()?,
                reason: self.str()?,
                reference: self.opt_str()?,
            },
            8 => Rec::ExpectReceipt {
                sku: self.str()?,
                loc: self.str()?,
                qty: self.qty()?,
                due_ms: self.u64()?,
                reference: self.str()?,
            },
            9 => Rec::CancelExpected {
                sku: self.str()?,
                loc: self.str()?,
                reference: self.str()?,
            },
            tag @ (10 | 40) => Rec::Hold {
                id: self.str()?,
                channel: self.str()?,
                ttl_ms: self.u64()?,
                lines: self.lines()?,
                pool: tag == 40,
            },
            11 => Rec::Release { hold: self.str()? },
            12 => Rec::Expire { hold: self.str()? },
            13 => Rec::Extend {
                hold: self.str()?,
                ttl_ms: self.u64()?,
            },
            14 => Rec::Commit {
                hold: self.str()?,
                order: self.str()?,
            },
            15 => Rec::TillSale {
                sale: self.str()?,
                channel: self.str()?,
                lines: self.lines()?,
            },
            16 => Rec::Settle {
                fulfil: self.bool()?,
                order: self.str()?,
                lines: self.lines()?,
            },
            17 => Rec::Dispatch {
                id: self.str()?,
                sku: self.str()?,
                from: self.str()?,
                to: self.str()?,
                qty: self.qty()?,
            },
            18 => Rec::ReceiveTransfer {
                id: self.str()?,
                qty: if self.bool()? {
                    Some(self.qty()?)
                } else {
                    None
                },
            },
            19 => Rec::CancelTransfer { id: self.str()? },
            20 => Rec::UpsertLocation(self.json()?),
            21 => Rec::SetClosed {
                loc: self.str()?,
                closed: self.bool()?,
            },
            22 => Rec::UpsertChannel(self.json()?),
            23 => Rec::RemoveFromChannel {
                channel: self.str()?,
                loc: self.str()?,
            },
            tag @ (24 | 46) => Rec::Place {
                order: self.str()?,
                digest: self.u64()?,
                channel: self.str()?,
                lines: self.lines()?,
                plan: self.json()?,
                reserve_hours: self.hours_if(tag == 46)?,
            },
            42 => Rec::FillBackorders { order: self.str()? },
            44 => {
                let reference = self.str()?;
                let n = self.u64()?;
                let mut items = Vec::with_capacity(n.min(1 << 16) as usize);
                for _ in 0..n {
                    items.push((self.str()?, self.u64()? as i64));
                }
                Rec::PoolShortage { reference, items }
            }
            43 => Rec::CancelBackorders { order: self.str()? },
            tag @ (41 | 47) => Rec::PlaceHold {
                hold: self.str()?,
                order: self.str()?,
                digest: self.u64()?,
                plan: self.json()?,
                reserve_hours: self.hours_if(tag == 47)?,
            },
            tag @ (25 | 48) => Rec::Reroute {
                order: self.str()?,
                plan: self.json()?,
                reserve_hours: self.hours_if(tag == 48)?,
            },
            49 => Rec::EndReservation { order: self.str()? },
            26 => Rec::Refused {
                holds: self.u64()?,
                till_sales: self.u64()?,
                orders: self.u64()?,
            },
            27 => {
                let reason = self.str()?;
                let reference = self.opt_str()?;
                let n = self.u64()?;
                if n > self.buf.len() as u64 {
                    return Err("too many items".into());
                }
                let mut items = Vec::with_capacity(n as usize);
                for _ in 0..n {
                    items.push((self.str()?, self.str()?, self.qty()?));
                }
                Rec::BulkLoad {
                    reason,
                    reference,
                    items: Cow::Owned(items),
                }
            }
            t => return Err(format!("unknown record type {t}")),
        };
        if !self.buf.is_empty() {
            return Err(format!("{} bytes after the record", self.buf.len()));
        }
        Ok(r)
    }
}
