"""A small FastAPI storefront service embedding unistock.

    pip install ./bindings-python fastapi uvicorn
    uvicorn storefront:app   # from examples/python

Endpoints: channel availability, create / commit / release holds, till
sales. Engine errors become JSON bodies with the stable error code.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Optional, Union

from fastapi import FastAPI, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel

import unistock as u

# JSON has no decimals: quantities are integers, or strings for fractions.
JsonQty = Union[int, str]

STATUS = {
    "E_INSUFFICIENT_STOCK": 409,
    "E_ID_CONFLICT": 409,
    "E_HOLD_NOT_ACTIVE": 409,
    "E_LOCATION_CLOSED": 409,
    "E_INVALID_QUANTITY": 422,
    "E_INVALID_ARGUMENT": 422,
    "E_LOCATION_NOT_IN_CHANNEL": 422,
}


class LineIn(BaseModel):
    sku: str
    qty: JsonQty
    location: Optional[str] = None


class HoldIn(BaseModel):
    id: str
    channel: str
    lines: list[LineIn]
    ttl_seconds: Optional[int] = None


class CommitIn(BaseModel):
    order: str


class SaleIn(BaseModel):
    id: str
    channel: str
    lines: list[LineIn]


def qty_in(q: JsonQty) -> Union[int, Decimal]:
    return Decimal(q) if isinstance(q, str) else q


def qty_out(q: Union[int, Decimal]) -> JsonQty:
    return str(q) if isinstance(q, Decimal) else q


def lines_in(lines: list[LineIn]) -> list[u.Line]:
    return [u.Line(l.sku, qty_in(l.qty), l.location) for l in lines]


def parts_out(parts: list[u.Part]) -> list[dict]:
    return [{"sku": p.sku, "location": p.location, "qty": qty_out(p.qty)} for p in parts]


def create_app(engine: u.Engine) -> FastAPI:
    app = FastAPI(title="unistock storefront")

    @app.exception_handler(u.UnistockError)
    async def engine_error(_request, ex: u.UnistockError) -> JSONResponse:
        body = {k: qty_out(v) if isinstance(v, Decimal) else v for k, v in vars(ex).items()}
        body["code"] = ex.code
        status = 404 if ex.code.startswith("E_UNKNOWN") else STATUS.get(ex.code, 400)
        return JSONResponse(body, status_code=status)

    @app.get("/channels/{channel}/availability")
    def availability(channel: str, sku: list[str] = Query(...)) -> dict:
        return {"channel": channel, "available": dict(zip(sku, map(qty_out, engine.availability_many(channel, sku))))}

    @app.get("/channels/{channel}/availability/{sku}/locations")
    def store_locator(channel: str, sku: str) -> list[dict]:
        return [
            {"location": a.location, "available": qty_out(a.available), "closed": a.closed}
            for a in engine.availability_by_location(channel, sku)
        ]

    @app.post("/holds", status_code=201)
    def create_hold(body: HoldIn) -> dict:
        ttl = None
        if body.ttl_seconds is not None:
            from datetime import timedelta

            ttl = timedelta(seconds=body.ttl_seconds)
        r = engine.hold(body.id, body.channel, lines_in(body.lines), ttl)
        return {"hold": r.hold, "expires_at": r.expires_at.isoformat(), "replayed": r.replayed, "parts": parts_out(r.parts)}

    @app.post("/holds/{hold}/commit")
    def commit_hold(hold: str, body: CommitIn) -> dict:
        r = engine.commit(hold, body.order)
        return {"order": r.order, "replayed": r.replayed, "allocations": parts_out(r.allocations)}

    @app.delete("/holds/{hold}", status_code=204)
    def release_hold(hold: str) -> None:
        engine.release(hold)

    @app.post("/till-sales", status_code=201)
    def till_sale(body: SaleIn) -> dict:
        r = engine.till_sale(body.id, body.channel, lines_in(body.lines))
        return {"order": r.order, "replayed": r.replayed, "allocations": parts_out(r.allocations)}

    return app


def demo_engine() -> u.Engine:
    e = u.Engine()
    e.upsert_location("wh-1")
    e.upsert_location("store-1", kind="store")
    e.upsert_channel("web", ["wh-1", "store-1"])
    e.upsert_channel("store:store-1", ["store-1"])
    e.receive("tee-blue-m", "wh-1", 10)
    e.receive("tee-blue-m", "store-1", 2)
    return e


app = create_app(demo_engine())
