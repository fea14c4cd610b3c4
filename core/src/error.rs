//! The one error type of the engine.
//!
//! Every variant carries its data so that the Python and Node packages can
//! expose it as attributes/fields, and has a stable code (`Error::code`).
//! Bad input never changes state: every check runs before the first write,
//! or the write is rolled back before any lock is released.

use crate::hold::HoldState;
use crate::qty::{Qty, QtyProblem};
use serde::{Deserialize, Serialize};

/// What kind of host id collided.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdKind {
    /// A hold id.
    Hold,
    /// An order id (commits and till sales).
    Order,
    /// A transfer id.
    Transfer,
    /// A SKU declared again with other settings.
    Sku,
}

impl std::fmt::Display for IdKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            IdKind::Hold => "hold",
            IdKind::Order => "order",
            IdKind::Transfer => "transfer",
            IdKind::Sku => "sku",
        })
    }
}

/// Every way an engine call can fail.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The SKU id is not known (and the call does not create SKUs).
    #[error("unknown SKU `{sku}`")]
    UnknownSku { sku: String },
    /// The location id is not known.
    #[error("unknown location `{location}`")]
    UnknownLocation { location: String },
    /// The channel id is not known.
    #[error("unknown channel `{channel}`")]
    UnknownChannel { channel: String },
    /// No hold with this id (or it was purged after its retention window).
    #[error("unknown hold `{hold}`")]
    UnknownHold { hold: String },
    /// No order with this id.
    #[error("unknown order `{order}`")]
    UnknownOrder { order: String },
    /// No transfer with this id.
    #[error("unknown transfer `{transfer}`")]
    UnknownTransfer { transfer: String },
    /// A quantity the SKU cannot take.
    #[error("invalid quantity {quantity} for SKU `{sku}`: {problem}")]
    InvalidQuantity {
        sku: String,
        quantity: String,
        problem: QtyProblem,
    },
    /// An argument that is not a quantity is malformed (empty id, zero TTL...).
    #[error("invalid argument `{field}`: {reason}")]
    InvalidArgument { field: &'static str, reason: String },
    /// Not enough available stock; `location` is set for a pinned line,
    /// `channel` for a channel-wide check.
    #[error("insufficient stock of `{sku}`{}: requested {requested}, available {available}",
        location.as_ref().map(|l| format!(" at `{l}`")).unwrap_or_default())]
    InsufficientStock {
        sku: String,
        location: Option<String>,
        channel: Option<String>,
        requested: Qty,
        available: Qty,
    },
    /// The id exists with other content.
    #[error("{kind} id `{id}` already used with other content")]
    IdConflict { kind: IdKind, id: String },
    /// The hold has ended (expired, released or committed).
    #[error("hold `{hold}` is not active: {state}")]
    HoldNotActive { hold: String, state: HoldState },
    /// An order (`kind` `Order`: its lines to fulfil or cancel) or a
    /// transfer (`Transfer`: its units still in transit) has less open
    /// than asked.
    #[error("{kind} `{id}` has {remaining} of `{sku}` open, {requested} requested")]
    ExceedsOpenQuantity {
        kind: IdKind,
        id: String,
        sku: String,
        requested: Qty,
        remaining: Qty,
    },
    /// The transfer is no longer in transit.
    #[error("transfer `{transfer}` is not in transit")]
    TransferNotOpen { transfer: String },
    /// The location is not among the channel's eligible locations.
    #[error("location `{location}` is not eligible for channel `{channel}`")]
    LocationNotInChannel { channel: String, location: String },
    /// The location is closed: it takes no new holds or sales.
    #[error("location `{location}` is closed")]
    LocationClosed { location: String },
    /// Routing found no plan within the order's constraints (the reason
    /// says which); stock shortfalls are `InsufficientStock`.
    #[error("no route: {reason}")]
    NoRoute { reason: String },
    /// A journal or snapshot file is damaged (not merely cut short at its
    /// end): recovery stops rather than drop acknowledged changes.
    #[error("corrupt file {file} at offset {offset}: {detail}")]
    Corrupt {
        file: String,
        offset: u64,
        detail: String,
    },
    /// Another engine (in this process or another) has the directory open.
    #[error("{path} is locked by another engine")]
    Locked { path: String },
    /// Writing or syncing the journal failed; the engine acknowledges no
    /// more mutations (reopen it to recover from what reached the disk).
    #[error("storage failed: {detail}")]
    Storage { detail: String },
    /// Events before `oldest` are no longer kept in memory.
    #[error("ledger events before {oldest} are no longer retained (asked from {requested})")]
    LedgerTruncated { requested: u64, oldest: u64 },
}

impl Error {
    /// The stable code the bindings expose (`err.code` in JS, `.code` in Python).
    pub fn code(&self) -> &'static str {
        match self {
            Error::UnknownSku { .. } => "E_UNKNOWN_SKU",
            Error::UnknownLocation { .. } => "E_UNKNOWN_LOCATION",
            Error::UnknownChannel { .. } => "E_UNKNOWN_CHANNEL",
            Error::UnknownHold { .. } => "E_UNKNOWN_HOLD",
            Error::UnknownOrder { .. } => "E_UNKNOWN_ORDER",
            Error::UnknownTransfer { .. } => "E_UNKNOWN_TRANSFER",
            Error::InvalidQuantity { .. } => "E_INVALID_QUANTITY",
            Error::InvalidArgument { .. } => "E_INVALID_ARGUMENT",
            Error::InsufficientStock { .. } => "E_INSUFFICIENT_STOCK",
            Error::NoRoute { .. } => "E_NO_ROUTE",
            Error::IdConflict { .. } => "E_ID_CONFLICT",
            Error::HoldNotActive { .. } => "E_HOLD_NOT_ACTIVE",
            Error::ExceedsOpenQuantity { .. } => "E_EXCEEDS_OPEN_QUANTITY",
            Error::TransferNotOpen { .. } => "E_TRANSFER_NOT_OPEN",
            Error::LocationNotInChannel { .. } => "E_LOCATION_NOT_IN_CHANNEL",
            Error::LocationClosed { .. } => "E_LOCATION_CLOSED",
            Error::Corrupt { .. } => "E_CORRUPT",
            Error::Locked { .. } => "E_LOCKED",
            Error::Storage { .. } => "E_STORAGE",
            Error::LedgerTruncated { .. } => "E_LEDGER_TRUNCATED",
        }
    }

    /// True for business outcomes (the request was well formed but the state
    /// said no); false for misuse (unknown ids, malformed arguments).
    pub fn is_business_outcome(&self) -> bool {
        matches!(
            self,
            Error::InsufficientStock { .. }
                | Error::IdConflict { .. }
                | Error::HoldNotActive { .. }
                | Error::ExceedsOpenQuantity { .. }
                | Error::TransferNotOpen { .. }
                | Error::LocationClosed { .. }
        )
    }

    pub(crate) fn qty(sku: &str, quantity: Qty, problem: QtyProblem) -> Error {
        Error::InvalidQuantity {
            sku: sku.to_string(),
            quantity: quantity.to_string(),
            problem,
        }
    }

    pub(crate) fn arg(field: &'static str, reason: impl Into<String>) -> Error {
        Error::InvalidArgument {
            field,
            reason: reason.into(),
        }
    }
}

/// Result with the engine's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
