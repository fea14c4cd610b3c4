"""The exceptions of unistock: one class per engine error, all under
:class:`UnistockError`. Each carries the error's data as attributes and a
stable ``code`` shared with the Rust crate and the Node package."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Optional, Union

__all__ = [
    "UnistockError",
    "UnknownSkuError",
    "UnknownLocationError",
    "UnknownChannelError",
    "UnknownHoldError",
    "UnknownOrderError",
    "UnknownTransferError",
    "InvalidQuantityError",
    "InvalidArgumentError",
    "InsufficientStockError",
    "IdConflictError",
    "HoldNotActiveError",
    "ExceedsOpenQuantityError",
    "TransferNotOpenError",
    "LocationNotInChannelError",
    "LocationClosedError",
    "LedgerTruncatedError",
    "NoRouteError",
    "CorruptError",
    "LockedError",
    "StorageError",
    "InternalError",
]

Quantity = Union[int, Decimal]


class UnistockError(Exception):
    """Base class of every unistock error."""

    code: str = "E_UNISTOCK"
    message: str

    def __init__(self, message: str, **data: Any) -> None:
        super().__init__(message)
        self.message = message
        for key, value in data.items():
            setattr(self, key, value)

    def __eq__(self, other: object) -> bool:
        return (
            type(other) is type(self)
            and isinstance(other, UnistockError)
            and vars(other) == vars(self)
        )

    def __hash__(self) -> int:
        return hash((type(self), self.message))

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if k != "message")
        return f"{type(self).__name__}({self.message!r}{', ' if fields else ''}{fields})"


class UnknownSkuError(UnistockError):
    code = "E_UNKNOWN_SKU"
    sku: str


class UnknownLocationError(UnistockError):
    code = "E_UNKNOWN_LOCATION"
    location: str


class UnknownChannelError(UnistockError):
    code = "E_UNKNOWN_CHANNEL"
    channel: str


class UnknownHoldError(UnistockError):
    code = "E_UNKNOWN_HOLD"
    hold: str


class UnknownOrderError(UnistockError):
    code = "E_UNKNOWN_ORDER"
    order: str


class UnknownTransferError(UnistockError):
    code = "E_UNKNOWN_TRANSFER"
    transfer: str


class InvalidQuantityError(UnistockError, ValueError):
    """A quantity the SKU cannot take. ``problem``: 'not_positive',
    'negative', 'too_many_decimals' or 'overflow'."""

    code = "E_INVALID_QUANTITY"
    sku: str
    quantity: str
    problem: str


class InvalidArgumentError(UnistockError, ValueError):
    """A malformed argument: a wrong type, an empty id, a zero TTL..."""

    code = "E_INVALID_ARGUMENT"
    field: str
    reason: str


class InsufficientStockError(UnistockError):
    """Not enough available stock. ``location`` is set for a pinned line,
    ``channel`` for a channel-wide check."""

    code = "E_INSUFFICIENT_STOCK"
    sku: str
    location: Optional[str]
    channel: Optional[str]
    requested: Quantity
    available: Quantity


class IdConflictError(UnistockError):
    """The id exists with other content. ``kind``: 'hold', 'order',
    'transfer' or 'sku'."""

    code = "E_ID_CONFLICT"
    kind: str
    id: str


class HoldNotActiveError(UnistockError):
    """The hold has ended. ``state``: 'expired', 'released' or 'committed'."""

    code = "E_HOLD_NOT_ACTIVE"
    hold: str
    state: str


class ExceedsOpenQuantityError(UnistockError):
    """An order's lines (``kind`` 'order') or a transfer's units still in
    transit (``kind`` 'transfer', ``id`` the transfer) have less open than
    asked."""

    code = "E_EXCEEDS_OPEN_QUANTITY"
    kind: str
    id: str
    sku: str
    requested: Quantity
    remaining: Quantity


class TransferNotOpenError(UnistockError):
    code = "E_TRANSFER_NOT_OPEN"
    transfer: str


class LocationNotInChannelError(UnistockError):
    code = "E_LOCATION_NOT_IN_CHANNEL"
    channel: str
    location: str


class LocationClosedError(UnistockError):
    code = "E_LOCATION_CLOSED"
    location: str


class LedgerTruncatedError(UnistockError):
    code = "E_LEDGER_TRUNCATED"
    requested: int
    oldest: int


class NoRouteError(UnistockError):
    code = "E_NO_ROUTE"
    reason: str


class CorruptError(UnistockError):
    """A journal or snapshot file is damaged (not merely cut short at its
    end): recovery stops rather than drop acknowledged changes."""

    code = "E_CORRUPT"
    file: str
    offset: int
    detail: str


class LockedError(UnistockError):
    """Another engine, in this process or another, has the directory open."""

    code = "E_LOCKED"
    path: str


class StorageError(UnistockError):
    """Writing or syncing the journal failed (or the engine was closed):
    no more mutations are acknowledged; reopen the directory."""

    code = "E_STORAGE"
    detail: str


class InternalError(UnistockError):
    """A bug inside unistock (a caught panic). Please report it."""

    code = "E_INTERNAL"
