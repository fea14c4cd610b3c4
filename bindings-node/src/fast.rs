//! The hot path of `hold`, `holdBatch` and `holdBatchAsync`: lines of
//! whole units, `[sku, qty]` or `[sku, qty, location]`.
//!
//! A napi-rs method costs about 260 ns before it does any work (argument
//! conversion, its borrow registry, the result object built one interned
//! property key at a time); a raw N-API call with the same arguments about
//! 45 ns. So `main.js`, the package's entry point, sends input of that
//! shape here and everything else to the napi-rs methods: `holdOne` (one
//! line, primitive arguments), `holdLines` (the lines as sku, qty, location
//! argument triples), `_holdBatchPacked` and `_holdBatchAsyncPacked` (a
//! batch packed into one string and one `Float64Array`, run as one core
//! `hold_batch`) and `availabilityOne`. The rules are the same either way
//! (the same core calls), and so are the conversions (`convert`) and the
//! errors (`errors`).
//!
//! A hold answers with the receipt's expiry (a number) when the receipt
//! mirrors the request (`mirrors`): the receipt object is then built in JS,
//! where an object literal is cheap. Any other receipt comes back as the
//! napi-rs `HoldReceipt` object.

use crate::convert::{ms_of_number, qty_of_number, qty_out};
use crate::engine::Engine;
use crate::errors::{Core, Outcome, arg, error_object, outcome, panic_object, wrap};
use crate::hold::{HoldReceipt, receipt_out};
use napi::bindgen_prelude::*;
use napi::sys;
use napi_derive::napi;
use smallvec::SmallVec;
use std::ffi::c_void;
use std::ops::Range;
use std::ptr::null_mut;
use std::sync::Arc;
use unistock::{HoldLine, HoldRequest, Qty};

/// What `holdOne` needs of an `Engine`, held by a JS external.
struct Handle {
    engine: Arc<unistock::Engine>,
    default_ttl_ms: u64,
}

/// Marks the externals this module made, so `holdOne` never reads another
/// addon's external as a `Handle`.
const TAG: sys::napi_type_tag = sys::napi_type_tag {
    lower: 0x756e_6973_746f_636b,
    upper: 0x686f_6c64_2d6f_6e65,
};

/// `Engine._fastHandle()`: the external `holdOne` takes (not in the
/// typings; `unistock.js` keeps one per engine).
pub struct FastHandle(Handle);

impl TypeName for FastHandle {
    fn type_name() -> &'static str {
        "unknown"
    }
    fn value_type() -> ValueType {
        ValueType::External
    }
}

unsafe extern "C" fn drop_handle(_env: sys::napi_env, data: *mut c_void, _hint: *mut c_void) {
    // SAFETY: `data` is the `Box<Handle>` leaked in `to_napi_value`, and the
    // finalizer runs once.
    drop(unsafe { Box::from_raw(data.cast::<Handle>()) });
}

impl ToNapiValue for FastHandle {
    unsafe fn to_napi_value(env: sys::napi_env, val: Self) -> Result<sys::napi_value> {
        let data = Box::into_raw(Box::new(val.0)).cast::<c_void>();
        let mut v = null_mut();
        // SAFETY: `data` is a live box; on success the external owns it
        // and frees it in `drop_handle`.
        let status =
            unsafe { sys::napi_create_external(env, data, Some(drop_handle), null_mut(), &mut v) };
        if status != sys::Status::napi_ok {
            // SAFETY: not handed over, so still ours.
            unsafe { drop_handle(env, data, null_mut()) };
            return Err(Error::new(Status::from(status), "napi_create_external"));
        }
        check_status!(unsafe { sys::napi_type_tag_object(env, v, &TAG) })?;
        Ok(v)
    }
}

/// Registers the raw calls on the module's exports (not in the typings).
#[napi(module_exports)]
pub fn register(mut exports: Object, env: Env) -> Result<()> {
    let raw: [(&str, &std::ffi::CStr, sys::napi_callback); 3] = [
        ("holdOne", c"holdOne", Some(hold_one)),
        ("holdLines", c"holdLines", Some(hold_lines)),
        (
            "availabilityOne",
            c"availabilityOne",
            Some(availability_one),
        ),
    ];
    for (name, cname, f) in raw {
        let mut v = null_mut();
        // SAFETY: a NUL-terminated name and a callback of this module.
        check_status!(unsafe {
            sys::napi_create_function(
                env.raw(),
                cname.as_ptr(),
                name.len() as isize,
                f,
                null_mut(),
                &mut v,
            )
        })?;
        // SAFETY: `v` was just created in this env.
        exports.set_named_property(name, unsafe { Unknown::from_raw_unchecked(env.raw(), v) })?;
    }
    Ok(())
}

fn ok(status: sys::napi_status) -> bool {
    status == sys::Status::napi_ok
}

fn type_of(env: sys::napi_env, v: sys::napi_value) -> sys::napi_valuetype {
    let mut t = sys::ValueType::napi_undefined;
    // SAFETY: `v` is an argument of the current call.
    unsafe { sys::napi_typeof(env, v, &mut t) };
    t
}

/// `undefined`, `null`, or not passed at all (a null handle).
fn absent(env: sys::napi_env, v: sys::napi_value) -> bool {
    v.is_null()
        || matches!(
            type_of(env, v),
            sys::ValueType::napi_undefined | sys::ValueType::napi_null
        )
}

/// Room for the ids of a hot call; longer strings go to the heap.
const STACK: usize = 256;

/// Room to read one JS string as UTF-8: on the stack when it is short (the
/// ids of a hot call), on the heap otherwise.
struct StrBuf {
    stack: [u8; STACK],
    heap: Vec<u8>,
}

impl StrBuf {
    fn new() -> Self {
        StrBuf {
            stack: [0; STACK],
            heap: Vec::new(),
        }
    }

    /// `v` as UTF-8. `napi_get_value_string_utf8` never splits a character
    /// (at most 4 bytes), so a result that leaves 4 bytes of the stack
    /// buffer free is the whole string.
    fn read(&mut self, env: sys::napi_env, v: sys::napi_value, field: &'static str) -> Core<&str> {
        let not_string = || arg(field, "must be a string");
        let mut n = 0usize;
        // SAFETY: the buffer is STACK bytes long; `v` is an argument.
        let s = unsafe {
            sys::napi_get_value_string_utf8(env, v, self.stack.as_mut_ptr().cast(), STACK, &mut n)
        };
        if !ok(s) {
            return Err(not_string());
        }
        let bytes: &[u8] = if n + 4 < STACK {
            &self.stack[..n]
        } else {
            // SAFETY: a null buffer asks for the length only.
            if !ok(unsafe { sys::napi_get_value_string_utf8(env, v, null_mut(), 0, &mut n) }) {
                return Err(not_string());
            }
            self.heap.resize(n + 1, 0);
            // SAFETY: the buffer is n + 1 bytes long (the string and its NUL).
            let s = unsafe {
                sys::napi_get_value_string_utf8(
                    env,
                    v,
                    self.heap.as_mut_ptr().cast(),
                    n + 1,
                    &mut n,
                )
            };
            if !ok(s) {
                return Err(not_string());
            }
            &self.heap[..n]
        };
        std::str::from_utf8(bytes).map_err(|_| not_string())
    }
}

fn number_arg(env: sys::napi_env, v: sys::napi_value, field: &'static str) -> Core<f64> {
    let mut n = 0f64;
    // SAFETY: `v` is an argument of the current call.
    if ok(unsafe { sys::napi_get_value_double(env, v, &mut n) }) {
        Ok(n)
    } else {
        Err(arg(field, "must be a number"))
    }
}

fn bool_arg(env: sys::napi_env, v: sys::napi_value, field: &'static str) -> Core<bool> {
    let mut b = false;
    // SAFETY: `v` is an argument of the current call.
    if ok(unsafe { sys::napi_get_value_bool(env, v, &mut b) }) {
        Ok(b)
    } else {
        Err(arg(field, "must be a boolean"))
    }
}

/// The `Handle` behind a `_fastHandle()` external.
fn handle_arg<'a>(env: sys::napi_env, v: sys::napi_value) -> Core<&'a Handle> {
    let mut tagged = false;
    let mut data = null_mut();
    // Only an external: the tag check would convert anything else to an
    // object, and throw for `undefined` and `null`.
    if v.is_null() || type_of(env, v) != sys::ValueType::napi_external {
        return Err(arg("engine", "must be an Engine"));
    }
    // SAFETY: `v` is an argument; only an external carrying our tag is read,
    // and it keeps its `Handle` alive while JS can reach it (for this call).
    unsafe {
        if ok(sys::napi_check_object_type_tag(env, v, &TAG, &mut tagged))
            && tagged
            && ok(sys::napi_get_value_external(env, v, &mut data))
        {
            return Ok(&*data.cast::<Handle>());
        }
    }
    Err(arg("engine", "must be an Engine"))
}

/// Reads a raw call's arguments (at least `MIN_ARGS`; those not passed are
/// null), runs `body`, and answers: its value, a refusal returned or thrown
/// as the `Error` of `errors`, a panic thrown as `E_INTERNAL`.
fn entry(
    env: sys::napi_env,
    info: sys::napi_callback_info,
    body: fn(
        sys::napi_env,
        &[sys::napi_value],
        usize,
    ) -> std::result::Result<sys::napi_value, Failure>,
) -> sys::napi_value {
    let mut argv: Args = SmallVec::from_elem(null_mut(), ARGS);
    // Reads up to `argv.len()` arguments; returns how many were passed.
    let read = |argv: &mut Args| {
        let mut argc = argv.len();
        // SAFETY: `argv` has room for `argc` values.
        let got = unsafe {
            sys::napi_get_cb_info(
                env,
                info,
                &mut argc,
                argv.as_mut_ptr(),
                null_mut(),
                null_mut(),
            )
        };
        ok(got).then_some(argc)
    };
    let Some(argc) = read(&mut argv) else {
        return null_mut();
    };
    // More than there was room for: read again, with room for all.
    if argc > ARGS {
        argv.resize(argc, null_mut());
        if read(&mut argv).is_none() {
            return null_mut();
        }
    }
    // Arguments past the ones passed are absent (no `napi_typeof` needed).
    argv.truncate(argc.max(MIN_ARGS));
    for a in argv.iter_mut().skip(argc) {
        *a = null_mut();
    }
    let run = std::panic::catch_unwind(|| body(env, &argv, argc));
    let e = Env::from_raw(env);
    let thrown = match run {
        Ok(Ok(v)) => return v,
        Ok(Err(Failure::Napi(error))) => {
            let msg = std::ffi::CString::new(error.reason).unwrap_or_default();
            // SAFETY: a NUL-terminated message; throwing in the current env.
            unsafe { sys::napi_throw_error(env, null_mut(), msg.as_ptr()) };
            return null_mut();
        }
        Ok(Err(Failure::Refused(error))) => match error_object(&e, &error) {
            Ok(o) => o,
            Err(_) => return null_mut(),
        },
        Err(panic) => match panic_object(&e, panic.as_ref()) {
            Ok(o) => o,
            Err(_) => return null_mut(),
        },
    };
    // SAFETY: `thrown` is a live error object of this env.
    unsafe { sys::napi_throw(env, thrown.raw()) };
    null_mut()
}

/// Room for the arguments of a raw call with 14 lines, on the stack.
const ARGS: usize = 48;
/// What the bodies may index without checking.
const MIN_ARGS: usize = 8;
type Args = SmallVec<[sys::napi_value; ARGS]>;

enum Failure {
    /// A core error, thrown as the `Error` of `errors`.
    Refused(unistock::Error),
    /// N-API itself failed (building the result).
    Napi(Error),
}

fn thrown(e: unistock::Error) -> Failure {
    Failure::Refused(e)
}

/// `holdOne(handle, id, channel, sku, qty, location?, ttlMs?, pool?)`: a
/// hold of one line; a refusal is thrown. Locking: as `Engine.hold`.
unsafe extern "C" fn hold_one(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    entry(env, info, hold_one_in)
}

/// `holdLines(handle, id, channel, ttlMs, pool, sku, qty,
/// location, sku, qty, location, ...)`: a hold of many lines, passed as
/// arguments (reading them is one call; reading an array's elements is one
/// call each). `ttlMs`, `pool` and a `location` may be `undefined`.
/// Locking: as `Engine.hold`.
unsafe extern "C" fn hold_lines(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    entry(env, info, hold_lines_in)
}

fn hold_one_in(
    env: sys::napi_env,
    argv: &[sys::napi_value],
    _argc: usize,
) -> std::result::Result<sys::napi_value, Failure> {
    let h = handle_arg(env, argv[0]).map_err(thrown)?;
    let [mut b1, mut b2, mut b3, mut b4] = std::array::from_fn(|_| StrBuf::new());
    let id = b1.read(env, argv[1], "id").map_err(thrown)?;
    let channel = b2.read(env, argv[2], "channel").map_err(thrown)?;
    let sku = b3.read(env, argv[3], "sku").map_err(thrown)?;
    let qty = number_arg(env, argv[4], "qty")
        .and_then(|n| qty_of_number(n, sku))
        .map_err(thrown)?;
    let location = match absent(env, argv[5]) {
        true => None,
        false => Some(b4.read(env, argv[5], "location").map_err(thrown)?),
    };
    let lines = [HoldLine { sku, qty, location }];
    hold(env, h, id, channel, &lines, argv[6], argv[7])
}

/// `availabilityOne(handle, channel, sku)`: what `channel` may sell of
/// `sku` now (a number, or a decimal string for a SKU with a unit scale).
/// Locking: as `Engine.availability`.
unsafe extern "C" fn availability_one(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    entry(env, info, availability_one_in)
}

fn availability_one_in(
    env: sys::napi_env,
    argv: &[sys::napi_value],
    _argc: usize,
) -> std::result::Result<sys::napi_value, Failure> {
    let h = handle_arg(env, argv[0]).map_err(thrown)?;
    let [mut b1, mut b2] = std::array::from_fn(|_| StrBuf::new());
    let channel = b1.read(env, argv[1], "channel").map_err(thrown)?;
    let sku = b2.read(env, argv[2], "sku").map_err(thrown)?;
    let q = h.engine.availability(channel, sku).map_err(thrown)?;
    // SAFETY: converting a result in the current env.
    unsafe { ToNapiValue::to_napi_value(env, qty_out(q)) }.map_err(Failure::Napi)
}

/// A line of `holdLines` as read: where its strings are in the text read.
type ReadLine = (Range<usize>, f64, Option<Range<usize>>);

fn hold_lines_in(
    env: sys::napi_env,
    argv: &[sys::napi_value],
    argc: usize,
) -> std::result::Result<sys::napi_value, Failure> {
    let h = handle_arg(env, argv[0]).map_err(thrown)?;
    let [mut b1, mut b2] = std::array::from_fn(|_| StrBuf::new());
    let id = b1.read(env, argv[1], "id").map_err(thrown)?;
    let channel = b2.read(env, argv[2], "channel").map_err(thrown)?;
    let triples = &argv[5..argc.max(5)];
    if triples.is_empty() || !triples.len().is_multiple_of(3) {
        return Err(thrown(arg(
            "lines",
            "must come as sku, qty, location triples",
        )));
    }
    // The lines' strings, one after another; then the lines borrow them.
    let mut text = Vec::with_capacity(16 * triples.len());
    let mut ranges: SmallVec<[ReadLine; 16]> = SmallVec::new();
    for t in triples.chunks_exact(3) {
        let sku = push_str(env, t[0], "sku", &mut text).map_err(thrown)?;
        let qty = number_arg(env, t[1], "qty").map_err(thrown)?;
        let location = match absent(env, t[2]) {
            true => None,
            false => Some(push_str(env, t[2], "location", &mut text).map_err(thrown)?),
        };
        ranges.push((sku, qty, location));
    }
    let text = std::str::from_utf8(&text).map_err(|_| thrown(arg("sku", "must be a string")))?;
    let mut lines: SmallVec<[HoldLine<'_>; 16]> = SmallVec::with_capacity(ranges.len());
    for (sku, qty, location) in ranges {
        let sku = &text[sku];
        lines.push(HoldLine {
            sku,
            qty: qty_of_number(qty, sku).map_err(thrown)?,
            location: location.map(|r| &text[r]),
        });
    }
    hold(env, h, id, channel, &lines, argv[3], argv[4])
}

/// Appends a JS string's UTF-8 to `text`; returns where it is.
fn push_str(
    env: sys::napi_env,
    v: sys::napi_value,
    field: &'static str,
    text: &mut Vec<u8>,
) -> Core<Range<usize>> {
    let mut buf = StrBuf::new();
    let s = buf.read(env, v, field)?;
    let start = text.len();
    text.extend_from_slice(s.as_bytes());
    Ok(start..text.len())
}

/// Runs the hold and answers: the expiry when the receipt mirrors the
/// request (not a replay; one part per line, in order, at the line's
/// location or the pool, of the line's whole units), else the napi-rs
/// `HoldReceipt`.
#[allow(clippy::too_many_arguments)]
fn hold(
    env: sys::napi_env,
    h: &Handle,
    id: &str,
    channel: &str,
    lines: &[HoldLine<'_>],
    ttl: sys::napi_value,
    pool: sys::napi_value,
) -> std::result::Result<sys::napi_value, Failure> {
    let ttl_ms = match absent(env, ttl) {
        true => h.default_ttl_ms,
        false => number_arg(env, ttl, "ttlMs")
            .and_then(|n| ms_of_number(n, "ttlMs"))
            .map_err(thrown)?,
    };
    let pool = absent(env, pool) || bool_arg(env, pool, "pool").map_err(thrown)?;
    let mut req = HoldRequest::new(id, channel, lines, ttl_ms);
    req.pool = pool;
    let r = h.engine.hold(&req).map_err(thrown)?;
    let mut out = null_mut();
    if mirrors(&r, &req, false) {
        // SAFETY: plain number creation in the current env.
        unsafe { sys::napi_create_double(env, r.expires_at_ms as f64, &mut out) };
        return Ok(out);
    }
    let receipt = receipt_out(&h.engine, id, r);
    // SAFETY: converting a result in the current env.
    unsafe { ToNapiValue::to_napi_value(env, receipt) }.map_err(Failure::Napi)
}

/// True when a receipt is what `main.js` builds from the request alone: not
/// a replay; one part per line, in order, at the line's location (or the
/// pool), of the line's units, shown as a number (whole units); and the
/// request's strings read back as the JS strings given (a lone surrogate
/// reads as U+FFFD, and the hold is stored under that spelling, which the
/// napi-rs receipt shows).
///
/// `ascii`: the request's strings are known to be ASCII (a packed batch
/// checks its whole text at once), so none is U+FFFD.
fn mirrors(r: &unistock::HoldReceipt, req: &HoldRequest<'_>, ascii: bool) -> bool {
    let plain = |s: &str| ascii || s.is_ascii() || !s.contains('\u{FFFD}');
    !r.replayed
        && r.parts.len() == req.lines.len()
        && plain(req.id)
        && r.parts.iter().zip(req.lines).all(|(p, l)| {
            p.location.is_some() == l.location.is_some()
                && p.qty == l.qty
                && matches!(qty_out(p.qty), Either::A(_))
                && plain(l.sku)
                && l.location.is_none_or(plain)
        })
}

/// What `_holdBatchAsyncPacked` resolves with: `[expiries, at, others]`.
/// `expiries[i]` is request i's expiry when its receipt mirrors it (see
/// `mirrors`), else NaN, and its outcome (the napi-rs receipt, or the
/// refusal as an `Error`) is `others[k]` where `at[k] == i`.
#[derive(Default)]
pub struct Packed {
    expiries: Vec<f64>,
    at: Vec<u32>,
    others: Vec<Outcome<HoldReceipt>>,
}

impl TypeName for Packed {
    fn type_name() -> &'static str {
        "unknown"
    }
    fn value_type() -> ValueType {
        ValueType::Object
    }
}

impl ToNapiValue for Packed {
    unsafe fn to_napi_value(env: sys::napi_env, val: Self) -> Result<sys::napi_value> {
        let mut array = null_mut();
        // SAFETY: building a fresh array in the current env.
        check_status!(unsafe { sys::napi_create_array_with_length(env, 3, &mut array) })?;
        let items = unsafe {
            [
                f64_array_copied(env, &val.expiries)?,
                Vec::<u32>::to_napi_value(env, val.at)?,
                Vec::<Outcome<HoldReceipt>>::to_napi_value(env, val.others)?,
            ]
        };
        for (i, v) in items.into_iter().enumerate() {
            // SAFETY: `array` and `v` are live values of the current env.
            check_status!(unsafe { sys::napi_set_element(env, array, i as u32, v) })?;
        }
        Ok(array)
    }
}

/// A `Float64Array` of a copy of `values`, in memory V8 allocates. Not a
/// buffer of ours handed over (`Float64Array::new`): V8 frees such a buffer
/// from its sweeper thread, and mimalloc, on that free, moves the page the
/// buffer was on to the sweeper's heap, where this thread never allocates
/// again; the package's memory grew by those pages without end (about
/// 0.27 MB per 200 batch calls).
///
/// # Safety
/// `env` is the current env.
unsafe fn f64_array_copied(env: sys::napi_env, values: &[f64]) -> Result<sys::napi_value> {
    let bytes = std::mem::size_of_val(values);
    let (mut data, mut buffer, mut array) = (null_mut(), null_mut(), null_mut());
    // SAFETY: a fresh buffer of `bytes` bytes in the current env.
    check_status!(unsafe { sys::napi_create_arraybuffer(env, bytes, &mut data, &mut buffer) })?;
    if bytes > 0 {
        // SAFETY: `data` is the new buffer's `bytes` bytes, V8 aligns it for
        // any element type, and nothing else refers to it yet.
        unsafe { std::ptr::copy_nonoverlapping(values.as_ptr(), data.cast(), values.len()) };
    }
    // SAFETY: `buffer` is the live buffer just made, exactly `values.len()`
    // doubles long.
    check_status!(unsafe {
        sys::napi_create_typedarray(
            env,
            sys::TypedarrayType::float64_array,
            values.len(),
            buffer,
            0,
            &mut array,
        )
    })?;
    Ok(array)
}

/// A batch `main.js` packed, decoded: every string in one UTF-8 text, the
/// requests and their lines as ranges of it (one allocation for all the
/// strings of a batch, where owned requests take one per string).
pub struct PackedBatch {
    text: String,
    /// `text` is all ASCII.
    ascii: bool,
    reqs: Vec<PackedHold>,
    lines: Vec<PackedLine>,
}

struct PackedHold {
    id: Range<usize>,
    channel: Range<usize>,
    ttl_ms: u64,
    pool: bool,
    lines: Range<usize>,
}

struct PackedLine {
    sku: Range<usize>,
    qty: Qty,
    location: Option<Range<usize>>,
}

impl PackedBatch {
    /// Reads `main.js`'s packing of simple hold requests: `text` is every
    /// id, channel, SKU and location one after another; `nums` has per
    /// request `[idLength, channelLength, ttlMs (NaN: the default), pool
    /// (NaN: the default, else 0 or 1), lineCount]`, then per line
    /// `[skuLength, qty, locationLength (-1: none)]`. Lengths count UTF-16
    /// units, as JS does.
    fn unpack(text: &[u16], nums: &[f64], default_ttl_ms: u64) -> Core<PackedBatch> {
        // All ASCII, the usual case: the UTF-8 text is the units as bytes,
        // converted at once, and its ranges are the units' ranges.
        let ascii = text.iter().all(|&u| u < 0x80);
        let mut r = Packing {
            units: text,
            nums,
            t: 0,
            n: 0,
            text: match ascii {
                true => text.iter().map(|&u| u as u8).collect(),
                false => Vec::with_capacity(text.len()),
            },
            ascii,
        };
        // Upper bounds (a request packs 5 numbers and at least one line of
        // 3): one allocation each instead of one per doubling.
        let mut reqs = Vec::with_capacity(nums.len() / 8);
        let mut lines = Vec::with_capacity(nums.len() / 3);
        while r.n < nums.len() {
            let (id_len, channel_len, ttl, pool, count) =
                (r.num()?, r.num()?, r.num()?, r.num()?, r.num()?);
            let id = r.take(id_len)?;
            let channel = r.take(channel_len)?;
            let ttl_ms = match ttl.is_nan() {
                true => default_ttl_ms,
                false => ms_of_number(ttl, "ttlMs")?,
            };
            let first = lines.len();
            for _ in 0..count as u32 {
                let (sku_len, qty, location_len) = (r.num()?, r.num()?, r.num()?);
                let sku = r.take(sku_len)?;
                // Whole units, the usual case, need not read the SKU (it
                // names the SKU in an error): `qty_of_number`'s first case,
                // taken before the SKU is read.
                let qty = match crate::convert::whole(qty) {
                    true => Qty::units(qty as i64),
                    false => qty_of_number(qty, r.str(sku.clone()))?,
                };
                let location = match location_len < 0.0 {
                    true => None,
                    false => Some(r.take(location_len)?),
                };
                lines.push(PackedLine { sku, qty, location });
            }
            reqs.push(PackedHold {
                id,
                channel,
                ttl_ms,
                pool: pool.is_nan() || pool != 0.0,
                lines: first..lines.len(),
            });
        }
        if r.t != text.len() {
            return Err(Packing::bad());
        }
        Ok(PackedBatch {
            ascii,
            // Valid by construction: ASCII bytes and encoded chars.
            text: String::from_utf8(r.text).map_err(|_| Packing::bad())?,
            reqs,
            lines,
        })
    }

    /// One core `hold_batch` of the requests; the receipts that mirror
    /// their request come back as expiries (see `Packed`).
    ///
    /// Locking: per item, as `Engine.hold`.
    fn run(&self, e: &unistock::Engine) -> Packed {
        let t = self.text.as_str();
        let lines: Vec<HoldLine<'_>> = self
            .lines
            .iter()
            .map(|l| HoldLine {
                sku: &t[l.sku.clone()],
                qty: l.qty,
                location: l.location.clone().map(|r| &t[r]),
            })
            .collect();
        let reqs: Vec<HoldRequest<'_>> = self
            .reqs
            .iter()
            .map(|r| {
                let mut req = HoldRequest::new(
                    &t[r.id.clone()],
                    &t[r.channel.clone()],
                    &lines[r.lines.clone()],
                    r.ttl_ms,
                );
                req.pool = r.pool;
                req
            })
            .collect();
        let mut p = Packed {
            expiries: Vec::with_capacity(reqs.len()),
            ..Packed::default()
        };
        for (i, (req, res)) in reqs.iter().zip(e.hold_batch(&reqs)).enumerate() {
            match res {
                Ok(rec) if mirrors(&rec, req, self.ascii) => {
                    p.expiries.push(rec.expires_at_ms as f64)
                }
                res => {
                    p.expiries.push(f64::NAN);
                    p.at.push(i as u32);
                    p.others
                        .push(outcome(res.map(|rec| receipt_out(e, req.id, rec))));
                }
            }
        }
        p
    }
}

/// `holdBatchAsync` of packed requests: the batch runs on the libuv thread
/// pool; only the receipts that do not mirror their request are converted
/// to objects here.
pub struct PackedHoldBatchTask {
    engine: Arc<unistock::Engine>,
    batch: PackedBatch,
}

impl Task for PackedHoldBatchTask {
    type Output = Packed;
    type JsValue = Packed;
    fn compute(&mut self) -> Result<Self::Output> {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.batch.run(&self.engine)
        }))
        .map_err(|_| Error::from_reason("internal error in unistock (panic)"))
    }
    fn resolve(&mut self, _env: Env, output: Self::Output) -> Result<Self::JsValue> {
        Ok(output)
    }
}

/// A cursor over a packed batch; `take` finds each string in `text`, the
/// batch's UTF-8 (converted at once when ASCII, else string by string).
struct Packing<'a> {
    units: &'a [u16],
    nums: &'a [f64],
    t: usize,
    n: usize,
    text: Vec<u8>,
    /// `text` is already all of `units`.
    ascii: bool,
}

impl Packing<'_> {
    fn bad() -> unistock::Error {
        arg("requests", "a packed batch that does not add up")
    }
    #[inline]
    fn num(&mut self) -> Core<f64> {
        let v = *self.nums.get(self.n).ok_or_else(Self::bad)?;
        self.n += 1;
        Ok(v)
    }
    /// A string `take` appended (`"?"` if it is not whole UTF-8, which
    /// `take` never makes).
    fn str(&self, at: Range<usize>) -> &str {
        std::str::from_utf8(&self.text[at]).unwrap_or("?")
    }
    /// The next `len` UTF-16 units as UTF-8 in `text` (a lone surrogate as
    /// U+FFFD, as N-API's UTF-8 reads do); returns where.
    #[inline]
    fn take(&mut self, len: f64) -> Core<Range<usize>> {
        let left = self.units.len() - self.t;
        if !(len >= 0.0 && len <= left as f64 && crate::convert::whole(len)) {
            return Err(Self::bad());
        }
        let (start, end) = (self.t, self.t + len as usize);
        self.t = end;
        if self.ascii {
            return Ok(start..end);
        }
        let at = self.text.len();
        for c in char::decode_utf16(self.units[start..end].iter().copied()) {
            let c = c.unwrap_or(char::REPLACEMENT_CHARACTER);
            self.text
                .extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
        }
        Ok(at..self.text.len())
    }
}

/// A JS string's UTF-16 units.
fn utf16_arg(env: sys::napi_env, v: sys::napi_value, field: &'static str) -> Core<Vec<u16>> {
    let mut len = 0usize;
    // SAFETY: a null buffer asks for the length only.
    if !ok(unsafe { sys::napi_get_value_string_utf16(env, v, null_mut(), 0, &mut len) }) {
        return Err(arg(field, "must be a string"));
    }
    let mut units = vec![0u16; len + 1];
    // SAFETY: the buffer has room for the string and its NUL.
    let got =
        unsafe { sys::napi_get_value_string_utf16(env, v, units.as_mut_ptr(), len + 1, &mut len) };
    if !ok(got) {
        return Err(arg(field, "must be a string"));
    }
    units.truncate(len);
    Ok(units)
}

#[napi]
impl Engine {
    /// The external the raw calls take (`main.js` keeps one per engine).
    #[napi(skip_typescript, js_name = "_fastHandle")]
    pub fn fast_handle(&self) -> FastHandle {
        FastHandle(Handle {
            engine: self.inner.clone(),
            default_ttl_ms: self.default_ttl_ms,
        })
    }

    /// `holdBatch` for requests `main.js` packed (see
    /// `PackedBatch::unpack`). Locking: per item, as `hold`.
    #[napi(catch_unwind, skip_typescript, js_name = "_holdBatchPacked")]
    pub fn hold_batch_packed(
        &self,
        env: Env,
        text: Unknown<'_>,
        nums: Float64Array,
    ) -> Result<Packed> {
        wrap(&env, || {
            let text = utf16_arg(env.raw(), text.raw(), "text")?;
            Ok(PackedBatch::unpack(&text, &nums, self.default_ttl_ms)?.run(&self.inner))
        })
    }

    /// `holdBatchAsync` for requests `main.js` packed (see
    /// `PackedBatch::unpack`).
    #[napi(catch_unwind, skip_typescript, js_name = "_holdBatchAsyncPacked")]
    pub fn hold_batch_async_packed(
        &self,
        env: Env,
        text: Unknown<'_>,
        nums: Float64Array,
    ) -> Result<AsyncTask<PackedHoldBatchTask>> {
        wrap(&env, || {
            let text = utf16_arg(env.raw(), text.raw(), "text")?;
            Ok(AsyncTask::new(PackedHoldBatchTask {
                engine: self.inner.clone(),
                batch: PackedBatch::unpack(&text, &nums, self.default_ttl_ms)?,
            }))
        })
    }
}
