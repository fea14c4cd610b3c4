"""The FastAPI storefront example, through FastAPI's test client."""

from __future__ import annotations

import pathlib
import sys

from fastapi.testclient import TestClient

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "examples" / "python"))

import storefront  # noqa: E402


def client():
    return TestClient(storefront.create_app(storefront.demo_engine()))


def test_availability_holds_commit_release_and_till():
    c = client()
    r = c.get("/channels/web/availability", params={"sku": ["tee-blue-m"]})
    assert r.status_code == 200 and r.json()["available"] == {"tee-blue-m": 12}

    r = c.post("/holds", json={"id": "cart-1", "channel": "web", "lines": [{"sku": "tee-blue-m", "qty": 11}]})
    assert r.status_code == 201
    # A cart claims the channel's pool: no location until checkout.
    assert r.json()["parts"] == [{"sku": "tee-blue-m", "location": None, "qty": 11}]
    r = c.post("/holds", json={"id": "cart-2", "channel": "web", "lines": [{"sku": "tee-blue-m", "qty": 2}]})
    assert r.status_code == 409
    body = r.json()
    assert body["code"] == "E_INSUFFICIENT_STOCK" and body["available"] == 1 and body["requested"] == 2

    r = c.post("/holds/cart-1/commit", json={"order": "o-1"})
    assert r.status_code == 200 and r.json()["order"] == "o-1"
    r = c.delete("/holds/cart-1")
    assert r.status_code == 409 and r.json()["state"] == "committed"

    r = c.post("/till-sales", json={"id": "till-1", "channel": "store:store-1", "lines": [{"sku": "tee-blue-m", "qty": 1}]})
    assert r.status_code == 201
    r = c.get("/channels/web/availability/tee-blue-m/locations")
    assert {x["location"]: x["available"] for x in r.json()} == {"wh-1": 0, "store-1": 0}


def test_errors_map_to_http_statuses():
    c = client()
    assert c.get("/channels/nowhere/availability", params={"sku": ["tee-blue-m"]}).status_code == 404
    r = c.post("/holds", json={"id": "c", "channel": "web", "lines": [{"sku": "tee-blue-m", "qty": -1}]})
    assert r.status_code == 422 and r.json()["code"] == "E_INVALID_QUANTITY"
    assert c.delete("/holds/ghost").json()["code"] == "E_UNKNOWN_HOLD"
