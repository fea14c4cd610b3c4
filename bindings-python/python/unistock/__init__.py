"""unistock: the embeddable inventory engine.

One source of truth for stock, holds and orders across every sales channel
(web, app, stores and their tills, marketplaces). Whole units are ``int``,
fractional quantities and costs ``decimal.Decimal``, times aware
``datetime`` and TTLs ``timedelta``. Every method releases the GIL while the
engine works, so threads run in parallel inside it.

    >>> from unistock import Engine
    >>> e = Engine()
    >>> e.upsert_location("wh-1")
    >>> e.upsert_channel("web", ["wh-1"])
    >>> e.receive("tee-blue-m", "wh-1", 10).on_hand
    10
"""

from ._core import (
    Candidate,
    Change,
    Channel,
    CountReport,
    Engine,
    ExpectedReceipt,
    HoldInfo,
    HoldReceipt,
    Kpis,
    LedgerEntry,
    Levels,
    Line,
    Location,
    LocationAvailability,
    ManualClock,
    OrderInfo,
    OrderLineInfo,
    OrderReceipt,
    Part,
    Placement,
    Plan,
    Shipment,
    Subscription,
    TransferInfo,
    __version__,
)
from .errors import (
    ExceedsOpenQuantityError,
    HoldNotActiveError,
    IdConflictError,
    InsufficientStockError,
    InternalError,
    InvalidArgumentError,
    InvalidQuantityError,
    LedgerTruncatedError,
    NoRouteError,
    LocationClosedError,
    LocationNotInChannelError,
    TransferNotOpenError,
    UnistockError,
    UnknownChannelError,
    UnknownHoldError,
    UnknownLocationError,
    UnknownOrderError,
    UnknownSkuError,
    UnknownTransferError,
)

__all__ = [
    "Candidate",
    "Change",
    "Channel",
    "CountReport",
    "Engine",
    "ExpectedReceipt",
    "HoldInfo",
    "HoldReceipt",
    "Kpis",
    "LedgerEntry",
    "Levels",
    "Line",
    "Location",
    "LocationAvailability",
    "ManualClock",
    "OrderInfo",
    "OrderLineInfo",
    "OrderReceipt",
    "Part",
    "Placement",
    "Plan",
    "Shipment",
    "Subscription",
    "TransferInfo",
    "__version__",
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
    "InternalError",
]
