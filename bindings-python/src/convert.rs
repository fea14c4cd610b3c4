//! Python values in and out: quantities (`int` for whole units,
//! `decimal.Decimal` for fractions), times (`datetime` with a time zone,
//! `timedelta`), ids (`str`) and lines. Every bad input becomes a typed
//! `unistock` error before the engine is touched.

use pyo3::IntoPyObjectExt;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{IntoPyDict, PyBool, PyFloat, PyInt, PyList, PyString, PyTuple, PyType};
use smallvec::SmallVec;
use std::str::FromStr;
use unistock::{Error, Qty, QtyProblem};

static DECIMAL: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static DATETIME: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static TIMEDELTA: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static EPOCH: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

pub(crate) fn decimal_type(py: Python<'_>) -> PyResult<&Bound<'_, PyType>> {
    DECIMAL.import(py, "decimal", "Decimal")
}

fn timedelta_type(py: Python<'_>) -> PyResult<&Bound<'_, PyType>> {
    TIMEDELTA.import(py, "datetime", "timedelta")
}

fn datetime_type(py: Python<'_>) -> PyResult<&Bound<'_, PyType>> {
    DATETIME.import(py, "datetime", "datetime")
}

fn epoch(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
    EPOCH
        .get_or_try_init(py, || {
            let utc = py.import("datetime")?.getattr("timezone")?.getattr("utc")?;
            Ok::<_, PyErr>(
                datetime_type(py)?
                    .call1((1970, 1, 1, 0, 0, 0, 0, utc))?
                    .unbind(),
            )
        })
        .map(|e| e.bind(py))
}

pub(crate) fn arg_err(py: Python<'_>, field: &'static str, reason: impl Into<String>) -> PyErr {
    crate::errors::to_py(
        py,
        Error::InvalidArgument {
            field,
            reason: reason.into(),
        },
    )
}

fn type_name(v: &Bound<'_, PyAny>) -> String {
    v.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".into())
}

unsafe extern "C" {
    // In CPython's C API since 3.3 and in the stable ABI since 3.10; every
    // CPython 3.9+ (what the package supports) exports it. It returns the
    // string's cached UTF-8 form, which lives as long as the string.
    fn PyUnicode_AsUTF8AndSize(
        unicode: *mut pyo3::ffi::PyObject,
        size: *mut pyo3::ffi::Py_ssize_t,
    ) -> *const std::os::raw::c_char;
}

/// The UTF-8 text of a Python `str`, borrowed (no copy).
#[inline(always)]
pub(crate) fn str_ref<'a>(s: &'a Bound<'_, PyString>) -> PyResult<&'a str> {
    let mut size: pyo3::ffi::Py_ssize_t = 0;
    // SAFETY: `s` is a live str; the returned buffer is owned by it and
    // immutable, and the borrow is tied to `s`.
    let p = unsafe { PyUnicode_AsUTF8AndSize(s.as_ptr(), &mut size) };
    if p.is_null() {
        // Lone surrogates cannot be encoded as UTF-8.
        return Err(
            PyErr::take(s.py()).unwrap_or_else(|| arg_err(s.py(), "str", "not valid UTF-8"))
        );
    }
    // SAFETY: CPython guarantees `size` valid UTF-8 bytes at `p`.
    Ok(unsafe {
        std::str::from_utf8_unchecked(std::slice::from_raw_parts(p.cast::<u8>(), size as usize))
    })
}

/// `v` as a `T`: checked first for exactly `T`, then for a subtype. Under
/// the stable ABI (abi3) a subtype check (`PyTuple_Check`...) is a call
/// into the interpreter, and the exact check a pointer comparison: the
/// usual inputs (plain tuples, strs, lists) skip the call.
#[inline(always)]
pub(crate) fn cast_fast<'a, 'py, T: pyo3::PyTypeInfo>(
    v: &'a Bound<'py, PyAny>,
) -> Result<&'a Bound<'py, T>, pyo3::CastError<'a, 'py>> {
    v.cast_exact::<T>().or_else(|_| v.cast::<T>())
}

/// A `str` id (not `None`, not bytes, not a list), borrowed.
#[inline(always)]
pub(crate) fn id_ref<'a>(v: &'a Bound<'_, PyAny>, field: &'static str) -> PyResult<&'a str> {
    // An exact `str` first: one pointer comparison, where the subtype check
    // is a call under the stable ABI (see `cast_fast`).
    match cast_fast::<PyString>(v) {
        Ok(s) => str_ref(s).map_err(|_| arg_err(v.py(), field, "must be valid UTF-8 text")),
        Err(_) => Err(arg_err(
            v.py(),
            field,
            format!("must be a str, not {}", type_name(v)),
        )),
    }
}

/// A `str` id (not `None`, not bytes, not a list).
pub(crate) fn id_in(v: &Bound<'_, PyAny>, field: &'static str) -> PyResult<String> {
    id_ref(v, field).map(str::to_owned)
}

/// An optional `str`.
pub(crate) fn opt_id_in(
    v: Option<&Bound<'_, PyAny>>,
    field: &'static str,
) -> PyResult<Option<String>> {
    match v {
        None => Ok(None),
        Some(v) if v.is_none() => Ok(None),
        Some(v) => id_in(v, field).map(Some),
    }
}

/// A list (or tuple) of `str` ids.
pub(crate) fn ids_in(v: &Bound<'_, PyAny>, field: &'static str) -> PyResult<Vec<String>> {
    if v.is_instance_of::<PyString>() {
        return Err(arg_err(v.py(), field, "must be a list of str, not a str"));
    }
    seq_items(v, field)?
        .iter()
        .map(|x| id_in(x, field))
        .collect()
}

/// The items of a list or tuple (other iterables are refused: a str or a
/// dict passed by mistake would otherwise be read item by item).
pub(crate) fn seq_items<'py>(
    v: &Bound<'py, PyAny>,
    field: &'static str,
) -> PyResult<Vec<Bound<'py, PyAny>>> {
    if let Ok(l) = cast_fast::<PyList>(v) {
        // Indexed, the length read once (see `LineItems::read`).
        return Ok((0..l.len()).map_while(|i| l.get_item(i).ok()).collect());
    }
    if let Ok(t) = v.cast::<PyTuple>() {
        return Ok(t.iter().collect());
    }
    Err(arg_err(
        v.py(),
        field,
        format!("must be a list, not {}", type_name(v)),
    ))
}

/// A quantity: an `int` (not `bool`) or a finite `decimal.Decimal`.
#[inline]
pub(crate) fn qty_in(v: &Bound<'_, PyAny>, sku: &str) -> PyResult<Qty> {
    // An exact `int` (never a `bool`) is one pointer comparison, and one
    // call reads it (pyo3's `extract` makes three under abi3).
    if v.is_exact_instance_of::<PyInt>() {
        let mut overflow = 0;
        // SAFETY: `v` is a live exact `int` and the GIL is held. For an
        // exact `int` this call fails only by overflowing, which it
        // reports in `overflow` without raising.
        let n = unsafe { pyo3::ffi::PyLong_AsLongLongAndOverflow(v.as_ptr(), &mut overflow) };
        if overflow == 0 {
            return Ok(Qty::units(n));
        }
    } else if v.is_instance_of::<PyInt>()
        && !v.is_instance_of::<PyBool>()
        && let Ok(n) = v.extract::<i64>()
    {
        return Ok(Qty::units(n));
    }
    qty_slow(v, sku)
}

/// [`qty_in`] past a whole `int` that fits: a `Decimal` or an error.
#[cold]
fn qty_slow(v: &Bound<'_, PyAny>, sku: &str) -> PyResult<Qty> {
    let py = v.py();
    if v.is_instance_of::<PyInt>() && !v.is_instance_of::<PyBool>() {
        return Err(crate::errors::to_py(
            py,
            Error::InvalidQuantity {
                sku: sku.to_string(),
                quantity: v.str().map(|s| s.to_string()).unwrap_or_default(),
                problem: QtyProblem::Overflow,
            },
        ));
    }
    if v.is_instance(decimal_type(py)?)? {
        if !v.call_method0("is_finite")?.is_truthy()? {
            return Err(arg_err(py, "qty", "must be a finite Decimal"));
        }
        let s = v.str()?.to_cow()?.into_owned();
        let d = rust_decimal::Decimal::from_str(&s)
            .or_else(|_| rust_decimal::Decimal::from_scientific(&s));
        return match d {
            Ok(d) => Ok(Qty::from_decimal(d)),
            Err(_) => Err(crate::errors::to_py(
                py,
                Error::InvalidQuantity {
                    sku: sku.to_string(),
                    quantity: s,
                    problem: QtyProblem::Overflow,
                },
            )),
        };
    }
    let hint = if v.is_instance_of::<PyFloat>() {
        " (floats are inexact: use int or decimal.Decimal)"
    } else {
        ""
    };
    Err(arg_err(
        py,
        "qty",
        format!(
            "must be an int or a decimal.Decimal, not {}{hint}",
            type_name(v)
        ),
    ))
}

/// An optional quantity.
pub(crate) fn opt_qty_in(v: Option<&Bound<'_, PyAny>>, sku: &str) -> PyResult<Option<Qty>> {
    match v {
        None => Ok(None),
        Some(v) if v.is_none() => Ok(None),
        Some(v) => qty_in(v, sku).map(Some),
    }
}

/// A quantity as Python sees it: `int` when whole-unit, else `Decimal`.
pub(crate) fn qty_out<'py>(py: Python<'py>, q: Qty) -> PyResult<Bound<'py, PyAny>> {
    if let (0, Some(n)) = (q.scale(), q.as_units()) {
        return n.into_bound_py_any(py);
    }
    decimal_type(py)?.call1((q.to_string(),))
}

/// An exact decimal (costs, percentages) in.
pub(crate) fn decimal_in(
    v: &Bound<'_, PyAny>,
    field: &'static str,
) -> PyResult<rust_decimal::Decimal> {
    let py = v.py();
    if v.is_instance_of::<PyInt>() && !v.is_instance_of::<PyBool>() {
        let n: i64 = v
            .extract()
            .map_err(|_| arg_err(py, field, "out of range"))?;
        return Ok(rust_decimal::Decimal::from(n));
    }
    if v.is_instance(decimal_type(py)?)? && v.call_method0("is_finite")?.is_truthy()? {
        let s = v.str()?.to_cow()?.into_owned();
        return rust_decimal::Decimal::from_str(&s)
            .or_else(|_| rust_decimal::Decimal::from_scientific(&s))
            .map_err(|_| arg_err(py, field, "out of range"));
    }
    Err(arg_err(
        py,
        field,
        format!(
            "must be an int or a finite decimal.Decimal, not {}",
            type_name(v)
        ),
    ))
}

pub(crate) fn decimal_out(py: Python<'_>, d: rust_decimal::Decimal) -> PyResult<Bound<'_, PyAny>> {
    decimal_type(py)?.call1((d.to_string(),))
}

/// A `timedelta` as whole milliseconds (sub-millisecond parts are dropped).
pub(crate) fn ttl_in(v: &Bound<'_, PyAny>, field: &'static str) -> PyResult<u64> {
    let py = v.py();
    if !v.is_instance(timedelta_type(py)?)? {
        return Err(arg_err(
            py,
            field,
            format!("must be a datetime.timedelta, not {}", type_name(v)),
        ));
    }
    let days: i64 = v.getattr("days")?.extract()?;
    let secs: i64 = v.getattr("seconds")?.extract()?;
    let micros: i64 = v.getattr("microseconds")?.extract()?;
    let ms = days
        .checked_mul(86_400_000)
        .and_then(|d| d.checked_add(secs * 1000 + micros / 1000));
    match ms {
        Some(ms) if ms > 0 => Ok(ms as u64),
        _ => Err(arg_err(
            py,
            field,
            "must be a positive timedelta of at least 1 ms",
        )),
    }
}

/// An aware `datetime` as milliseconds since the epoch.
pub(crate) fn time_in(v: &Bound<'_, PyAny>, field: &'static str) -> PyResult<u64> {
    let py = v.py();
    if !v.is_instance(datetime_type(py)?)? {
        return Err(arg_err(
            py,
            field,
            format!("must be a datetime.datetime, not {}", type_name(v)),
        ));
    }
    if v.getattr("tzinfo")?.is_none() || v.call_method0("utcoffset")?.is_none() {
        return Err(arg_err(
            py,
            field,
            "must carry a time zone (naive datetimes are ambiguous)",
        ));
    }
    let delta = v.sub(epoch(py)?)?;
    let ms = ttl_or_zero(&delta)?;
    u64::try_from(ms).map_err(|_| arg_err(py, field, "must not be before 1970"))
}

fn ttl_or_zero(td: &Bound<'_, PyAny>) -> PyResult<i64> {
    let days: i64 = td.getattr("days")?.extract()?;
    let secs: i64 = td.getattr("seconds")?.extract()?;
    let micros: i64 = td.getattr("microseconds")?.extract()?;
    Ok(days * 86_400_000 + secs * 1000 + micros / 1000)
}

/// Milliseconds since the epoch as an aware UTC `datetime`.
pub(crate) fn ms_out(py: Python<'_>, ms: u64) -> PyResult<Bound<'_, PyAny>> {
    let td = timedelta_type(py)?.call((), Some(&[("milliseconds", ms)].into_py_dict(py)?))?;
    epoch(py)?.add(td)
}

/// A time as `datetime` on the Python side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Ms(pub u64);

impl<'py> IntoPyObject<'py> for Ms {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;
    fn into_pyobject(self, py: Python<'py>) -> PyResult<Self::Output> {
        ms_out(py, self.0)
    }
}

/// A quantity as `int` or `Decimal` on the Python side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PyQty(pub Qty);

impl<'py> IntoPyObject<'py> for PyQty {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;
    fn into_pyobject(self, py: Python<'py>) -> PyResult<Self::Output> {
        qty_out(py, self.0)
    }
}

/// An exact decimal on the Python side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PyDecimal(pub rust_decimal::Decimal);

impl<'py> IntoPyObject<'py> for PyDecimal {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;
    fn into_pyobject(self, py: Python<'py>) -> PyResult<Self::Output> {
        decimal_out(py, self.0)
    }
}

/// Lines read from Python, with what the engine needs to read them once the
/// GIL is released. Each line's object (its tuple or `Line`, both
/// immutable) is kept, so the text of its SKU and location stays where it
/// is and is read in place, looked up in its `str` once; other text (a
/// batch's ids and channels) is copied into one buffer. A batch reads all
/// its requests' lines into one `LineItems` (one buffer for the call, not
/// one per request).
#[derive(Default)]
pub(crate) struct LineItems<'py> {
    /// The objects the lines' text is read from.
    owners: SmallVec<[Bound<'py, PyAny>; 2]>,
    items: SmallVec<[LineAt; 2]>,
    text: SmallVec<[u8; 32]>,
}

/// Where a piece of copied text is in [`LineItems`]' buffer.
#[derive(Clone, Copy)]
pub(crate) struct Span {
    start: usize,
    len: usize,
}

/// Text inside an object in [`LineItems::owners`].
#[derive(Clone, Copy)]
struct Pinned {
    ptr: *const u8,
    len: usize,
}

impl Pinned {
    fn of(s: &str) -> Pinned {
        Pinned {
            ptr: s.as_ptr(),
            len: s.len(),
        }
    }
}

/// One line: its SKU, its location if one was given, its quantity.
struct LineAt {
    sku: Pinned,
    loc: Option<Pinned>,
    qty: Qty,
}

impl<'py> LineItems<'py> {
    /// The lines of one list.
    pub(crate) fn new(v: &Bound<'py, PyAny>) -> PyResult<Self> {
        let mut items = LineItems::default();
        items.read(v)?;
        Ok(items)
    }

    /// Appends the lines of one list (a list or tuple of `(sku, qty)`,
    /// `(sku, qty, location)` or `Line`); returns how many.
    pub(crate) fn read(&mut self, v: &Bound<'py, PyAny>) -> PyResult<usize> {
        let before = self.items.len();
        if let Ok(l) = cast_fast::<PyList>(v) {
            // Indexed, the length read once: the list's iterator asks the
            // interpreter for it before every item (a call under abi3). A
            // list that shrinks meanwhile (only a `Decimal` quantity runs
            // Python code) ends the lines where it ends, as iterating would.
            let n = l.len();
            self.reserve(n);
            for i in 0..n {
                let Ok(item) = l.get_item(i) else { break };
                self.read_line(item)?;
            }
        } else if let Ok(t) = v.cast::<PyTuple>() {
            self.reserve(t.len());
            for item in t.iter() {
                self.read_line(item)?;
            }
        } else {
            return Err(arg_err(
                v.py(),
                "lines",
                format!("must be a list, not {}", type_name(v)),
            ));
        }
        Ok(self.items.len() - before)
    }

    /// Room for `n` more lines.
    pub(crate) fn reserve(&mut self, n: usize) {
        self.items.reserve(n);
        self.owners.reserve(n);
    }

    #[inline]
    fn read_line(&mut self, item: Bound<'py, PyAny>) -> PyResult<()> {
        let py = item.py();
        // A tuple first: the usual line (an exact tuple is one pointer
        // comparison), where the `Line` check is a subtype walk.
        let at = if let Ok(t) = cast_fast::<PyTuple>(&item) {
            let n = t.len();
            if !(2..=3).contains(&n) {
                return Err(arg_err(
                    py,
                    "lines",
                    "each line must be (sku, qty) or (sku, qty, location)",
                ));
            }
            // Read in place: the tuple, which cannot change, holds them.
            // SAFETY: each index is below the length checked just above.
            let item = |i| unsafe { t.get_borrowed_item_unchecked(i) };
            let (sku_obj, qty_obj) = (item(0), item(1));
            let loc = Some(n)
                .filter(|&n| n == 3)
                .map(|_| item(2))
                .filter(|l| !l.is_none());
            let sku = id_ref(&sku_obj, "sku")?;
            LineAt {
                sku: Pinned::of(sku),
                qty: qty_in(&qty_obj, sku)?,
                loc: match loc {
                    Some(l) => Some(Pinned::of(id_ref(&l, "location")?)),
                    None => None,
                },
            }
        } else {
            let line = item.cast::<crate::hold::Line>().map_err(|_| {
                arg_err(
                    py,
                    "lines",
                    format!(
                        "each line must be (sku, qty), (sku, qty, location) or a Line, not {}",
                        type_name(&item)
                    ),
                )
            })?;
            // A frozen `Line`: its strings never change.
            let l = line.get();
            LineAt {
                sku: Pinned::of(&l.sku),
                loc: l.location.as_deref().map(Pinned::of),
                qty: l.qty.0,
            }
        };
        self.items.push(at);
        self.owners.push(item);
        Ok(())
    }

    /// Copies `s` into the buffer.
    #[inline]
    pub(crate) fn push_text(&mut self, s: &str) -> Span {
        let span = Span {
            start: self.text.len(),
            len: s.len(),
        };
        self.text.extend_from_slice(s.as_bytes());
        span
    }

    fn pinned(&self, p: Pinned) -> &str {
        // SAFETY: `p` is the text of a `str` or of a frozen `Line`'s
        // `String`, held by an object in `self.owners` (the line's own
        // object, immutable) for as long as `self` lives, so its bytes stay
        // where they are, unchanged, valid UTF-8.
        unsafe { std::str::from_utf8_unchecked(std::slice::from_raw_parts(p.ptr, p.len)) }
    }

    /// The text at `span`.
    pub(crate) fn str(&self, span: Span) -> &str {
        let bytes = &self.text[span.start..span.start + span.len];
        // SAFETY: the buffer holds only whole `&str`s (`push_text`), and a
        // span is one of them, so its bytes are valid UTF-8.
        unsafe { std::str::from_utf8_unchecked(bytes) }
    }

    /// All the lines, in the order read, as the engine takes them.
    pub(crate) fn lines(&self) -> SmallVec<[unistock::HoldLine<'_>; 2]> {
        self.items
            .iter()
            .map(|l| unistock::HoldLine {
                sku: self.pinned(l.sku),
                qty: l.qty,
                location: l.loc.map(|loc| self.pinned(loc)),
            })
            .collect()
    }
}

/// Takes a result object off the cycle collector's list. Result objects hold
/// only strings, numbers and Rust data, so they can never be part of a
/// reference cycle; untracked, a batch of thousands of receipts does not
/// make every later full collection walk them.
pub(crate) fn untrack<T>(obj: Bound<'_, T>) -> Bound<'_, T> {
    // SAFETY: `obj` is a live GC-capable object (every pyclass is); untracking
    // an object that cannot reach a cycle is always sound, and CPython's
    // deallocation tolerates an untracked object.
    unsafe { pyo3::ffi::PyObject_GC_UnTrack(obj.as_ptr().cast()) };
    obj
}
