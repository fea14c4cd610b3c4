//! The one mapping from `unistock::Error` to Python exceptions.
//!
//! The exception classes live in `unistock/errors.py` (one per core error,
//! all under `UnistockError`, carrying the error's data as attributes); this
//! module builds them. A panic inside the engine becomes `InternalError`:
//! `pyo3_runtime.PanicException` never reaches the user.

use crate::convert::qty_out;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyModule};
use unistock::Error;

static ERRORS: PyOnceLock<Py<PyModule>> = PyOnceLock::new();

fn errors_module(py: Python<'_>) -> PyResult<&Bound<'_, PyModule>> {
    ERRORS
        .get_or_try_init(py, || {
            Ok::<_, PyErr>(py.import("unistock.errors")?.unbind())
        })
        .map(|m| m.bind(py))
}

/// The Python class name of a core error.
pub(crate) fn class_name(e: &Error) -> &'static str {
    match e {
        Error::UnknownSku { .. } => "UnknownSkuError",
        Error::UnknownLocation { .. } => "UnknownLocationError",
        Error::UnknownChannel { .. } => "UnknownChannelError",
        Error::UnknownHold { .. } => "UnknownHoldError",
        Error::UnknownOrder { .. } => "UnknownOrderError",
        Error::UnknownTransfer { .. } => "UnknownTransferError",
        Error::InvalidQuantity { .. } => "InvalidQuantityError",
        Error::InvalidArgument { .. } => "InvalidArgumentError",
        Error::InsufficientStock { .. } => "InsufficientStockError",
        Error::IdConflict { .. } => "IdConflictError",
        Error::HoldNotActive { .. } => "HoldNotActiveError",
        Error::ExceedsOpenQuantity { .. } => "ExceedsOpenQuantityError",
        Error::TransferNotOpen { .. } => "TransferNotOpenError",
        Error::LocationNotInChannel { .. } => "LocationNotInChannelError",
        Error::LocationClosed { .. } => "LocationClosedError",
        Error::LedgerTruncated { .. } => "LedgerTruncatedError",
        Error::NoRoute { .. } => "NoRouteError",
        Error::Corrupt { .. } => "CorruptError",
        Error::Locked { .. } => "LockedError",
        Error::Storage { .. } => "StorageError",
        _ => "UnistockError",
    }
}

/// A core argument name as this package's caller wrote it (the core's
/// names are the Rust API's: `ttl_ms` is `ttl`, a timedelta, here).
fn field_name(core: &'static str) -> &'static str {
    match core {
        "ttl_ms" => "ttl",
        "as_of_ms" => "as_of",
        "hours" => "reserve_hours",
        other => other,
    }
}

/// The exception instance for a core error (not raised: batch calls return
/// it as a value).
pub(crate) fn exception<'py>(py: Python<'py>, e: &Error) -> PyResult<Bound<'py, PyAny>> {
    let renamed;
    let e = match e {
        Error::InvalidArgument { field, reason } if field_name(field) != *field => {
            renamed = Error::InvalidArgument {
                field: field_name(field),
                reason: reason.clone(),
            };
            &renamed
        }
        _ => e,
    };
    let data = PyDict::new(py);
    match e {
        Error::UnknownSku { sku } => data.set_item("sku", sku)?,
        Error::UnknownLocation { location } => data.set_item("location", location)?,
        Error::UnknownChannel { channel } => data.set_item("channel", channel)?,
        Error::UnknownHold { hold } => data.set_item("hold", hold)?,
        Error::UnknownOrder { order } => data.set_item("order", order)?,
        Error::UnknownTransfer { transfer } => data.set_item("transfer", transfer)?,
        Error::InvalidQuantity {
            sku,
            quantity,
            problem,
        } => {
            data.set_item("sku", sku)?;
            data.set_item("quantity", quantity)?;
            data.set_item("problem", snake(problem))?;
        }
        Error::InvalidArgument { field, reason } => {
            data.set_item("field", field)?;
            data.set_item("reason", reason)?;
        }
        Error::InsufficientStock {
            sku,
            location,
            channel,
            requested,
            available,
        } => {
            data.set_item("sku", sku)?;
            data.set_item("location", location)?;
            data.set_item("channel", channel)?;
            data.set_item("requested", qty_out(py, *requested)?)?;
            data.set_item("available", qty_out(py, *available)?)?;
        }
        Error::IdConflict { kind, id } => {
            data.set_item("kind", kind.to_string())?;
            data.set_item("id", id)?;
        }
        Error::HoldNotActive { hold, state } => {
            data.set_item("hold", hold)?;
            data.set_item("state", state.to_string())?;
        }
        Error::ExceedsOpenQuantity {
            kind,
            id,
            sku,
            requested,
            remaining,
        } => {
            data.set_item("kind", kind.to_string())?;
            data.set_item("id", id)?;
            data.set_item("sku", sku)?;
            data.set_item("requested", qty_out(py, *requested)?)?;
            data.set_item("remaining", qty_out(py, *remaining)?)?;
        }
        Error::TransferNotOpen { transfer } => data.set_item("transfer", transfer)?,
        Error::LocationNotInChannel { channel, location } => {
            data.set_item("channel", channel)?;
            data.set_item("location", location)?;
        }
        Error::LocationClosed { location } => data.set_item("location", location)?,
        Error::LedgerTruncated { requested, oldest } => {
            data.set_item("requested", requested)?;
            data.set_item("oldest", oldest)?;
        }
        Error::NoRoute { reason } => data.set_item("reason", reason)?,
        Error::Corrupt {
            file,
            offset,
            detail,
        } => {
            data.set_item("file", file)?;
            data.set_item("offset", offset)?;
            data.set_item("detail", detail)?;
        }
        Error::Locked { path } => data.set_item("path", path)?,
        Error::Storage { detail } => data.set_item("detail", detail)?,
        _ => {}
    }
    let cls = errors_module(py)?.getattr(class_name(e))?;
    cls.call((e.to_string(),), Some(&data))
}

/// The raisable form of a core error.
pub(crate) fn to_py(py: Python<'_>, e: Error) -> PyErr {
    match exception(py, &e) {
        Ok(exc) => PyErr::from_value(exc),
        Err(err) => err,
    }
}

/// `InternalError` for a panic caught at the boundary.
pub(crate) fn internal(py: Python<'_>, panic: Box<dyn std::any::Any + Send>) -> PyErr {
    let msg = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".to_string());
    match errors_module(py).and_then(|m| {
        m.getattr("InternalError")?
            .call1((format!("internal error in unistock: {msg}"),))
    }) {
        Ok(exc) => PyErr::from_value(exc),
        Err(err) => err,
    }
}

/// The serde (snake_case) name of a unit enum value.
pub(crate) fn snake<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}

/// Runs an engine call with the GIL released and any panic caught.
pub(crate) fn run<T, F>(py: Python<'_>, f: F) -> PyResult<T>
where
    F: FnOnce() -> unistock::Result<T> + Send,
    T: Send,
{
    match py.detach(|| std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(to_py(py, e)),
        Err(panic) => Err(internal(py, panic)),
    }
}

/// As `run`, for calls that cannot fail.
pub(crate) fn run_infallible<T, F>(py: Python<'_>, f: F) -> PyResult<T>
where
    F: FnOnce() -> T + Send,
    T: Send,
{
    run(py, || Ok(f()))
}

/// Panics inside an engine call, so the tests can show that a panic comes
/// out as `unistock.InternalError` and never as `PanicException`.
#[pyfunction]
pub(crate) fn _debug_panic(py: Python<'_>) -> PyResult<()> {
    run(py, || -> unistock::Result<()> {
        panic!("deliberate panic for the tests")
    })
}
