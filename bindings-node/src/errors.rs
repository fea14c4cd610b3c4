//! The one mapping from `unistock::Error` to JS: an `Error` whose `code` is
//! the stable code (`E_INSUFFICIENT_STOCK`, ...) and whose own properties
//! carry the same data as the Python exception attributes.

use crate::convert::qty_out;
use napi::bindgen_prelude::*;
use napi::sys;
use unistock::Error as CoreError;

pub(crate) type Core<T> = std::result::Result<T, CoreError>;

pub(crate) fn arg(field: &'static str, reason: impl Into<String>) -> CoreError {
    CoreError::InvalidArgument {
        field,
        reason: reason.into(),
    }
}

fn snake<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}

pub(crate) fn enum_name<T: serde::Serialize>(v: &T) -> String {
    snake(v)
}

/// A core argument name as this package's caller wrote it (the core's
/// names are the Rust API's snake_case: `ttl_ms` is `ttlMs` here).
fn field_name(core: &'static str) -> &'static str {
    match core {
        "ttl_ms" => "ttlMs",
        "as_of_ms" => "asOf",
        "hours" => "reserveHours",
        "unit_scale" => "unitScale",
        "holdback_percent" => "holdbackPercent",
        "safety_units" => "safetyUnits",
        "max_shipments" => "maxShipments",
        "cost_per_km" => "costPerKm",
        other => other,
    }
}

/// Builds the JS `Error` for a core error.
pub(crate) fn error_object(env: &Env, e: &CoreError) -> Result<Object<'static>> {
    let renamed;
    let e = match e {
        CoreError::InvalidArgument { field, reason } if field_name(field) != *field => {
            renamed = CoreError::InvalidArgument {
                field: field_name(field),
                reason: reason.clone(),
            };
            &renamed
        }
        _ => e,
    };
    let code = env.create_string(e.code())?;
    let msg = env.create_string(e.to_string())?;
    let mut raw = std::ptr::null_mut();
    // SAFETY: both strings are live napi values of this env.
    check_status!(unsafe { sys::napi_create_error(env.raw(), code.raw(), msg.raw(), &mut raw) })?;
    let mut o = Object::from_raw(env.raw(), raw);
    let s = |o: &mut Object<'_>, k: &str, v: &str| o.set(k, v);
    match e {
        CoreError::UnknownSku { sku } => s(&mut o, "sku", sku)?,
        CoreError::UnknownLocation { location } => s(&mut o, "location", location)?,
        CoreError::UnknownChannel { channel } => s(&mut o, "channel", channel)?,
        CoreError::UnknownHold { hold } => s(&mut o, "hold", hold)?,
        CoreError::UnknownOrder { order } => s(&mut o, "order", order)?,
        CoreError::UnknownTransfer { transfer } => s(&mut o, "transfer", transfer)?,
        CoreError::InvalidQuantity {
            sku,
            quantity,
            problem,
        } => {
            s(&mut o, "sku", sku)?;
            s(&mut o, "quantity", quantity)?;
            s(&mut o, "problem", &snake(problem))?;
        }
        CoreError::InvalidArgument { field, reason } => {
            s(&mut o, "field", field)?;
            s(&mut o, "reason", reason)?;
        }
        CoreError::InsufficientStock {
            sku,
            location,
            channel,
            requested,
            available,
        } => {
            s(&mut o, "sku", sku)?;
            o.set("location", location.as_deref())?;
            o.set("channel", channel.as_deref())?;
            o.set("requested", qty_out(*requested))?;
            o.set("available", qty_out(*available))?;
        }
        CoreError::IdConflict { kind, id } => {
            s(&mut o, "kind", &kind.to_string())?;
            s(&mut o, "id", id)?;
        }
        CoreError::HoldNotActive { hold, state } => {
            s(&mut o, "hold", hold)?;
            s(&mut o, "state", &state.to_string())?;
        }
        CoreError::ExceedsOpenQuantity {
            kind,
            id,
            sku,
            requested,
            remaining,
        } => {
            s(&mut o, "kind", &kind.to_string())?;
            s(&mut o, "id", id)?;
            s(&mut o, "sku", sku)?;
            o.set("requested", qty_out(*requested))?;
            o.set("remaining", qty_out(*remaining))?;
        }
        CoreError::TransferNotOpen { transfer } => s(&mut o, "transfer", transfer)?,
        CoreError::LocationNotInChannel { channel, location } => {
            s(&mut o, "channel", channel)?;
            s(&mut o, "location", location)?;
        }
        CoreError::LocationClosed { location } => s(&mut o, "location", location)?,
        CoreError::LedgerTruncated { requested, oldest } => {
            o.set("requested", BigInt::from(*requested))?;
            o.set("oldest", BigInt::from(*oldest))?;
        }
        CoreError::NoRoute { reason } => s(&mut o, "reason", reason)?,
        CoreError::Corrupt {
            file,
            offset,
            detail,
        } => {
            s(&mut o, "file", file)?;
            o.set("offset", *offset as f64)?;
            s(&mut o, "detail", detail)?;
        }
        CoreError::Locked { path } => s(&mut o, "path", path)?,
        CoreError::Storage { detail } => s(&mut o, "detail", detail)?,
        _ => {}
    }
    Ok(o)
}

/// A core error as a JS value (an `Error` object), for batch results.
#[derive(Debug)]
pub struct ErrorValue(pub CoreError);

impl TypeName for ErrorValue {
    fn type_name() -> &'static str {
        "Error"
    }
    fn value_type() -> ValueType {
        ValueType::Object
    }
}

impl ToNapiValue for ErrorValue {
    unsafe fn to_napi_value(env: sys::napi_env, val: Self) -> Result<sys::napi_value> {
        let env = Env::from_raw(env);
        Ok(error_object(&env, &val.0)?.raw())
    }
}

/// The JS `Error` (code `E_INTERNAL`) for a caught panic.
pub(crate) fn panic_object(
    env: &Env,
    panic: &(dyn std::any::Any + Send),
) -> Result<Object<'static>> {
    let msg = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".to_string());
    let code = env.create_string("E_INTERNAL")?;
    let msg = env.create_string(format!("internal error in unistock: {msg}"))?;
    let mut raw = std::ptr::null_mut();
    // SAFETY: both strings are live napi values of this env.
    check_status!(unsafe { sys::napi_create_error(env.raw(), code.raw(), msg.raw(), &mut raw) })?;
    Ok(Object::from_raw(env.raw(), raw))
}

/// Runs a call; a core error is thrown as its JS `Error` (with data), and a
/// panic as an `Error` with code `E_INTERNAL` (the `catch_unwind` on every
/// export is the second net).
pub(crate) fn wrap<T>(env: &Env, f: impl FnOnce() -> Core<T>) -> Result<T> {
    let obj = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(Ok(v)) => return Ok(v),
        Ok(Err(e)) => error_object(env, &e)?,
        Err(panic) => panic_object(env, panic.as_ref())?,
    };
    env.throw(obj)?;
    Err(Error::new(Status::PendingException, "thrown"))
}

/// A batch item: the result, or the error as a value.
pub(crate) type Outcome<T> = Either<T, ErrorValue>;

pub(crate) fn outcome<T>(r: Core<T>) -> Outcome<T> {
    match r {
        Ok(v) => Either::A(v),
        Err(e) => Either::B(ErrorValue(e)),
    }
}
