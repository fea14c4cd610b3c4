//! JS values in and out. Inputs arrive as `unknown` and are checked here, so
//! that every bad input (NaN, -1, 2**53, 1.5 for a whole-unit SKU, strings
//! where numbers belong, null, undefined, wrong shapes) becomes a typed
//! error with a stable code before the engine is touched.

use crate::errors::{Core, arg};
use napi::bindgen_prelude::*;
use napi::{JsDate, JsValue, sys};
use std::str::FromStr;
use unistock::{Error as CoreError, Qty, QtyProblem};

/// Largest integer a JS number holds exactly.
const MAX_SAFE: f64 = 9_007_199_254_740_991.0;

fn type_of(v: &Unknown<'_>) -> ValueType {
    v.get_type().unwrap_or(ValueType::Unknown)
}

fn type_label(v: &Unknown<'_>) -> &'static str {
    match type_of(v) {
        ValueType::Undefined => "undefined",
        ValueType::Null => "null",
        ValueType::Boolean => "a boolean",
        ValueType::Number => "a number",
        ValueType::String => "a string",
        ValueType::Object if v.is_array().unwrap_or(false) => "an array",
        ValueType::Object => "an object",
        ValueType::BigInt => "a bigint",
        ValueType::Function => "a function",
        _ => "another type",
    }
}

pub(crate) fn is_nullish(v: &Unknown<'_>) -> bool {
    matches!(type_of(v), ValueType::Undefined | ValueType::Null)
}

/// A string id.
pub(crate) fn str_in(v: &Unknown<'_>, field: &'static str) -> Core<String> {
    if type_of(v) != ValueType::String {
        return Err(arg(
            field,
            format!("must be a string, not {}", type_label(v)),
        ));
    }
    // SAFETY: the value was just checked to be a string.
    unsafe { v.cast::<String>() }.map_err(|e| arg(field, e.reason.clone()))
}

pub(crate) fn opt_str_in(v: Option<&Unknown<'_>>, field: &'static str) -> Core<Option<String>> {
    match v {
        None => Ok(None),
        Some(v) if is_nullish(v) => Ok(None),
        Some(v) => str_in(v, field).map(Some),
    }
}

pub(crate) fn array_in<'e>(v: &Unknown<'e>, field: &'static str) -> Core<Vec<Unknown<'e>>> {
    if !v.is_array().unwrap_or(false) {
        return Err(arg(
            field,
            format!("must be an array, not {}", type_label(v)),
        ));
    }
    // SAFETY: checked to be an array.
    let a = unsafe { v.cast::<Array<'e>>() }.map_err(|e| arg(field, e.reason.clone()))?;
    (0..a.len())
        .map(|i| {
            a.get::<Unknown<'e>>(i)
                .map_err(|e| arg(field, e.reason.clone()))?
                .ok_or_else(|| arg(field, "holes are not allowed"))
        })
        .collect()
}

pub(crate) fn strs_in(v: &Unknown<'_>, field: &'static str) -> Core<Vec<String>> {
    array_in(v, field)?
        .iter()
        .map(|x| str_in(x, field))
        .collect()
}

pub(crate) fn object_in<'e>(v: &Unknown<'e>, field: &'static str) -> Core<Object<'e>> {
    if type_of(v) != ValueType::Object || v.is_array().unwrap_or(false) {
        return Err(arg(
            field,
            format!("must be an object, not {}", type_label(v)),
        ));
    }
    // SAFETY: checked to be an object.
    unsafe { v.cast::<Object<'e>>() }.map_err(|e| arg(field, e.reason.clone()))
}

pub(crate) fn field<'e>(o: &Object<'e>, name: &'static str) -> Core<Option<Unknown<'e>>> {
    let v = o
        .get::<Unknown<'e>>(name)
        .map_err(|e| arg(name, e.reason.clone()))?;
    Ok(v.filter(|v| !is_nullish(v)))
}

fn qty_problem(sku: &str, shown: String, problem: QtyProblem) -> CoreError {
    CoreError::InvalidQuantity {
        sku: sku.to_string(),
        quantity: shown,
        problem,
    }
}

/// `n` is a whole number within +-(2^53-1). Two conversions, not
/// `f64::fract`: without SSE4.1 (not in the baseline x86-64 target) that
/// is a call into libm's `trunc`, once per number of every hold.
#[inline]
pub(crate) fn whole(n: f64) -> bool {
    n.abs() <= MAX_SAFE && (n as i64) as f64 == n
}

/// A quantity given as a JS number: whole units, or a fraction only for a
/// SKU with a unit scale.
pub(crate) fn qty_of_number(n: f64, sku: &str) -> Core<Qty> {
    // Whole units, the usual case, first (`whole` implies finite and safe).
    if whole(n) {
        return Ok(Qty::units(n as i64));
    }
    if !n.is_finite() {
        return Err(arg("qty", "must be a finite number"));
    }
    if n.abs() > MAX_SAFE {
        return Err(qty_problem(sku, n.to_string(), QtyProblem::Overflow));
    }
    // The shortest decimal that reads back as this number: 1.5 is 1.5 (and
    // refused for a whole-unit SKU), 0.1 is 0.1.
    let s = format!("{n}");
    rust_decimal::Decimal::from_str(&s)
        .map(Qty::from_decimal)
        .map_err(|_| qty_problem(sku, s, QtyProblem::Overflow))
}

/// A quantity: a number (whole units; a fraction only for a SKU with a unit
/// scale) or a decimal string.
pub(crate) fn qty_in(v: &Unknown<'_>, sku: &str) -> Core<Qty> {
    match type_of(v) {
        ValueType::Number => {
            // SAFETY: checked to be a number.
            let n = unsafe { v.cast::<f64>() }.map_err(|e| arg("qty", e.reason.clone()))?;
            qty_of_number(n, sku)
        }
        ValueType::String => {
            // SAFETY: checked to be a string.
            let s = unsafe { v.cast::<String>() }.map_err(|e| arg("qty", e.reason.clone()))?;
            let t = s.trim();
            if t.is_empty()
                || !t
                    .bytes()
                    .all(|b| b.is_ascii_digit() || b == b'.' || b == b'-' || b == b'+')
            {
                return Err(arg("qty", format!("{s:?} is not a decimal number")));
            }
            rust_decimal::Decimal::from_str(t)
                .map(Qty::from_decimal)
                .map_err(|_| {
                    arg(
                        "qty",
                        format!("{s:?} is not a decimal number (or is too large)"),
                    )
                })
        }
        _ => Err(arg(
            "qty",
            format!(
                "must be a number or a decimal string, not {}",
                type_label(v)
            ),
        )),
    }
}

pub(crate) fn opt_qty_in(v: Option<&Unknown<'_>>, sku: &str) -> Core<Option<Qty>> {
    match v {
        None => Ok(None),
        Some(v) if is_nullish(v) => Ok(None),
        Some(v) => qty_in(v, sku).map(Some),
    }
}

/// A whole number of milliseconds (TTLs): finite, integral, 1..2^53-1.
pub(crate) fn ms_in(v: &Unknown<'_>, field: &'static str) -> Core<u64> {
    if type_of(v) != ValueType::Number {
        return Err(arg(
            field,
            format!("must be a number of milliseconds, not {}", type_label(v)),
        ));
    }
    // SAFETY: checked to be a number.
    let n = unsafe { v.cast::<f64>() }.map_err(|e| arg(field, e.reason.clone()))?;
    ms_of_number(n, field)
}

/// Milliseconds given as a JS number: finite, integral, 1..2^53-1.
pub(crate) fn ms_of_number(n: f64, field: &'static str) -> Core<u64> {
    if !(1.0..=MAX_SAFE).contains(&n) || !whole(n) {
        return Err(arg(
            field,
            "must be a whole number of milliseconds, 1..2^53-1",
        ));
    }
    Ok(n as u64)
}

/// A small whole number (scales, priorities, capacities).
pub(crate) fn int_in(v: &Unknown<'_>, field: &'static str, min: f64, max: f64) -> Core<i64> {
    if type_of(v) != ValueType::Number {
        return Err(arg(
            field,
            format!("must be a number, not {}", type_label(v)),
        ));
    }
    // SAFETY: checked to be a number.
    let n = unsafe { v.cast::<f64>() }.map_err(|e| arg(field, e.reason.clone()))?;
    if !(min..=max).contains(&n) || !whole(n) {
        return Err(arg(
            field,
            format!("must be a whole number in {min}..={max}"),
        ));
    }
    Ok(n as i64)
}

pub(crate) fn float_in(v: &Unknown<'_>, field: &'static str) -> Core<f64> {
    if type_of(v) != ValueType::Number {
        return Err(arg(
            field,
            format!("must be a number, not {}", type_label(v)),
        ));
    }
    // SAFETY: checked to be a number.
    unsafe { v.cast::<f64>() }.map_err(|e| arg(field, e.reason.clone()))
}

pub(crate) fn bool_in(v: &Unknown<'_>, field: &'static str) -> Core<bool> {
    if type_of(v) != ValueType::Boolean {
        return Err(arg(
            field,
            format!("must be a boolean, not {}", type_label(v)),
        ));
    }
    // SAFETY: checked to be a boolean.
    unsafe { v.cast::<bool>() }.map_err(|e| arg(field, e.reason.clone()))
}

/// An exact decimal (costs, percentages): a number or a decimal string.
pub(crate) fn decimal_in(v: &Unknown<'_>, field: &'static str) -> Core<rust_decimal::Decimal> {
    let q =
        qty_in(v, field).map_err(|_| arg(field, "must be a finite number or a decimal string"))?;
    Ok(q.to_decimal())
}

/// A `Date` as milliseconds since the epoch.
pub(crate) fn date_in(v: &Unknown<'_>, field: &'static str) -> Core<u64> {
    if !v.is_date().unwrap_or(false) {
        return Err(arg(field, format!("must be a Date, not {}", type_label(v))));
    }
    // SAFETY: checked to be a Date.
    let d = unsafe { v.cast::<JsDate<'_>>() }.map_err(|e| arg(field, e.reason.clone()))?;
    let ms = d.value_of().map_err(|e| arg(field, e.reason.clone()))?;
    if !ms.is_finite() || ms < 0.0 {
        return Err(arg(field, "must be a valid Date after 1970"));
    }
    Ok(ms as u64)
}

/// A quantity out: a number for whole-unit SKUs, a decimal string otherwise.
pub(crate) fn qty_out(q: Qty) -> Either<f64, String> {
    match (q.scale(), q.as_units()) {
        (0, Some(n)) => Either::A(n as f64),
        _ => Either::B(q.to_string()),
    }
}

/// A quantity field of a result object (`number | string` in TypeScript).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct JsQty(pub Qty);

impl TypeName for JsQty {
    fn type_name() -> &'static str {
        "number | string"
    }
    fn value_type() -> ValueType {
        ValueType::Unknown
    }
}

impl ToNapiValue for JsQty {
    unsafe fn to_napi_value(env: sys::napi_env, val: Self) -> Result<sys::napi_value> {
        unsafe { Either::to_napi_value(env, qty_out(val.0)) }
    }
}

/// A time field of a result object (a `Date`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct JsTime(pub u64);

impl TypeName for JsTime {
    fn type_name() -> &'static str {
        "Date"
    }
    fn value_type() -> ValueType {
        ValueType::Object
    }
}

impl ToNapiValue for JsTime {
    unsafe fn to_napi_value(env: sys::napi_env, val: Self) -> Result<sys::napi_value> {
        let env = Env::from_raw(env);
        Ok(env.create_date(val.0 as f64)?.raw())
    }
}

/// An exact decimal out, as a string.
pub(crate) fn decimal_out(d: rust_decimal::Decimal) -> String {
    d.normalize().to_string()
}

/// One line of a hold, sale or order change, owned: `[sku, qty]`,
/// `[sku, qty, location]` or `{ sku, qty, location? }`.
pub(crate) struct OwnedLine {
    pub sku: String,
    pub qty: Qty,
    pub location: Option<String>,
}

pub(crate) fn lines_in(v: &Unknown<'_>) -> Core<Vec<OwnedLine>> {
    let shape = "each line must be [sku, qty], [sku, qty, location] or { sku, qty, location? }";
    array_in(v, "lines")?
        .iter()
        .map(|item| {
            if item.is_array().unwrap_or(false) {
                let parts = array_in(item, "lines")?;
                if !(2..=3).contains(&parts.len()) {
                    return Err(arg("lines", shape));
                }
                let sku = str_in(&parts[0], "sku")?;
                let qty = qty_in(&parts[1], &sku)?;
                let location = opt_str_in(parts.get(2), "location")?;
                return Ok(OwnedLine { sku, qty, location });
            }
            let o = object_in(item, "lines").map_err(|_| arg("lines", shape))?;
            let sku = field(&o, "sku")?.ok_or_else(|| arg("sku", "is required"))?;
            let sku = str_in(&sku, "sku")?;
            let qty = field(&o, "qty")?.ok_or_else(|| arg("qty", "is required"))?;
            let qty = qty_in(&qty, &sku)?;
            let location = opt_str_in(field(&o, "location")?.as_ref(), "location")?;
            Ok(OwnedLine { sku, qty, location })
        })
        .collect()
}

pub(crate) fn hold_lines(lines: &[OwnedLine]) -> Vec<unistock::HoldLine<'_>> {
    lines
        .iter()
        .map(|l| unistock::HoldLine {
            sku: &l.sku,
            qty: l.qty,
            location: l.location.as_deref(),
        })
        .collect()
}

/// `{ reason?, reference? }` for a stock movement.
pub(crate) struct OwnedNote {
    reason: String,
    reference: Option<String>,
}

impl OwnedNote {
    pub(crate) fn new(v: Option<&Unknown<'_>>) -> Core<Self> {
        let Some(v) = v.filter(|v| !is_nullish(v)) else {
            return Ok(OwnedNote {
                reason: String::new(),
                reference: None,
            });
        };
        let o = object_in(v, "note")?;
        Ok(OwnedNote {
            reason: opt_str_in(field(&o, "reason")?.as_ref(), "reason")?.unwrap_or_default(),
            reference: opt_str_in(field(&o, "reference")?.as_ref(), "reference")?,
        })
    }
    pub(crate) fn note(&self) -> unistock::Note<'_> {
        unistock::Note {
            reason: &self.reason,
            reference: self.reference.as_deref(),
        }
    }
}

/// A ledger sequence number: a `bigint`, or a safe integer `number`.
pub(crate) fn seq_in(v: &Unknown<'_>, field: &'static str) -> Core<u64> {
    if v.get_type().ok() == Some(ValueType::BigInt) {
        // SAFETY: checked to be a bigint.
        let b = unsafe { v.cast::<BigInt>() }.map_err(|e| arg(field, e.reason.clone()))?;
        let (negative, n, lossless) = b.get_u64();
        if negative || !lossless {
            return Err(arg(field, "must be a sequence number (0 or more)"));
        }
        return Ok(n);
    }
    Ok(int_in(v, field, 0.0, 9_007_199_254_740_991.0)? as u64)
}
