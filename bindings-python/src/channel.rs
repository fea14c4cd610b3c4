//! Topology (locations, channels) and channel reads (mirrors
//! `unistock::location`, `unistock::channel` and `unistock::topology`).

use crate::convert::{PyDecimal, PyQty, arg_err, decimal_in, id_in, ids_in};
use crate::engine::Engine;
use crate::errors::{run, run_infallible, snake};
use crate::records::record;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyFloat, PyInt};
use unistock::{Cap, Capabilities, ChannelSpec, LocationKind, LocationSpec};

record!(
    /// A location as the engine keeps it.
    Location {
        id: String,
        kind: String,
        ships: bool,
        pickup: bool,
        store_reservation: bool,
        lat: f64,
        lon: f64,
        priority: i32,
        cost_per_shipment: PyDecimal,
        cost_per_unit: PyDecimal,
        daily_capacity: Option<u32>,
        closed: bool,
    }
);

record!(
    /// A channel: its eligible locations in fill order and its buffers.
    Channel {
        id: String,
        locations: Vec<String>,
        safety_units: i64,
        holdback_percent: PyDecimal,
        cap_units: Option<i64>,
        cap_percent: Option<PyDecimal>,
    }
);

record!(
    /// What a channel may sell at one of its locations.
    LocationAvailability {
        location: String,
        available: PyQty,
        closed: bool,
    }
);

fn kind_in(v: &Bound<'_, PyAny>) -> PyResult<LocationKind> {
    Ok(match id_in(v, "kind")?.as_str() {
        "warehouse" => LocationKind::Warehouse,
        "store" => LocationKind::Store,
        "dropship" => LocationKind::Dropship,
        "transit" => LocationKind::Transit,
        _ => {
            return Err(arg_err(
                v.py(),
                "kind",
                "must be 'warehouse', 'store', 'dropship' or 'transit'",
            ));
        }
    })
}

pub(crate) fn bool_in(v: &Bound<'_, PyAny>, field: &'static str) -> PyResult<bool> {
    v.cast::<PyBool>()
        .map(|b| b.is_true())
        .map_err(|_| arg_err(v.py(), field, "must be a bool"))
}

pub(crate) fn float_in(v: &Bound<'_, PyAny>, field: &'static str) -> PyResult<f64> {
    if v.is_instance_of::<PyBool>()
        || !(v.is_instance_of::<PyFloat>() || v.is_instance_of::<PyInt>())
    {
        return Err(arg_err(v.py(), field, "must be a float"));
    }
    v.extract()
        .map_err(|_| arg_err(v.py(), field, "must be a float"))
}

pub(crate) fn int_in<T: for<'a, 'py> FromPyObject<'a, 'py>>(
    v: &Bound<'_, PyAny>,
    field: &'static str,
) -> PyResult<T> {
    if v.is_instance_of::<PyBool>() || !v.is_instance_of::<PyInt>() {
        return Err(arg_err(v.py(), field, "must be an int"));
    }
    v.extract()
        .map_err(|_| arg_err(v.py(), field, "is out of range"))
}

#[pymethods]
impl Engine {
    /// Adds or replaces a location. `kind`: 'warehouse', 'store',
    /// 'dropship' or 'transit'. Capabilities default by kind (warehouses
    /// ship; stores ship, hand over pick-ups and keep reservations).
    ///
    /// Locking: the topology writer, then every stripe (the swap is atomic).
    #[pyo3(signature = (id, *, kind=None, ships=None, pickup=None, store_reservation=None, lat=None, lon=None, priority=None, cost_per_shipment=None, cost_per_unit=None, daily_capacity=None))]
    #[allow(clippy::too_many_arguments)]
    fn upsert_location(
        &self,
        py: Python<'_>,
        id: &Bound<'_, PyAny>,
        kind: Option<&Bound<'_, PyAny>>,
        ships: Option<&Bound<'_, PyAny>>,
        pickup: Option<&Bound<'_, PyAny>>,
        store_reservation: Option<&Bound<'_, PyAny>>,
        lat: Option<&Bound<'_, PyAny>>,
        lon: Option<&Bound<'_, PyAny>>,
        priority: Option<&Bound<'_, PyAny>>,
        cost_per_shipment: Option<&Bound<'_, PyAny>>,
        cost_per_unit: Option<&Bound<'_, PyAny>>,
        daily_capacity: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let id = id_in(id, "id")?;
        let kind = kind
            .map(kind_in)
            .transpose()?
            .unwrap_or(LocationKind::Warehouse);
        let mut spec = match kind {
            LocationKind::Store => LocationSpec::store(id),
            LocationKind::Warehouse => LocationSpec::warehouse(id),
            other => LocationSpec::new(
                id,
                other,
                Capabilities {
                    ships: true,
                    ..Default::default()
                },
            ),
        };
        if let Some(v) = ships {
            spec.capabilities.ships = bool_in(v, "ships")?;
        }
        if let Some(v) = pickup {
            spec.capabilities.pickup = bool_in(v, "pickup")?;
        }
        if let Some(v) = store_reservation {
            spec.capabilities.store_reservation = bool_in(v, "store_reservation")?;
        }
        if let Some(v) = lat {
            spec.lat = float_in(v, "lat")?;
        }
        if let Some(v) = lon {
            spec.lon = float_in(v, "lon")?;
        }
        if let Some(v) = priority {
            spec.priority = int_in(v, "priority")?;
        }
        if let Some(v) = cost_per_shipment {
            spec.cost_per_shipment = decimal_in(v, "cost_per_shipment")?;
        }
        if let Some(v) = cost_per_unit {
            spec.cost_per_unit = decimal_in(v, "cost_per_unit")?;
        }
        if let Some(v) = daily_capacity {
            spec.daily_capacity = if v.is_none() {
                None
            } else {
                Some(int_in(v, "daily_capacity")?)
            };
        }
        let e = &self.inner;
        run(py, || e.upsert_location(spec).map(|_| ()))
    }

    /// Closes (True) or reopens a location. A closed location takes no new
    /// holds or sales; existing holds and allocations there stay valid.
    ///
    /// Locking: the topology writer, then every stripe.
    fn set_location_closed(
        &self,
        py: Python<'_>,
        location: &Bound<'_, PyAny>,
        closed: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let loc = id_in(location, "location")?;
        let closed = bool_in(closed, "closed")?;
        let e = &self.inner;
        run(py, || e.set_location_closed(&loc, closed))
    }

    /// Adds or replaces a channel selling from `locations` in that order.
    /// Buffers: `safety_units` whole units per SKU, `holdback_percent` of
    /// the available stock (rounded up), and at most one cap (`cap_units`
    /// or `cap_percent`).
    ///
    /// Locking: the topology writer, then every stripe.
    #[pyo3(signature = (id, locations, *, safety_units=None, holdback_percent=None, cap_units=None, cap_percent=None))]
    #[allow(clippy::too_many_arguments)]
    fn upsert_channel(
        &self,
        py: Python<'_>,
        id: &Bound<'_, PyAny>,
        locations: &Bound<'_, PyAny>,
        safety_units: Option<&Bound<'_, PyAny>>,
        holdback_percent: Option<&Bound<'_, PyAny>>,
        cap_units: Option<&Bound<'_, PyAny>>,
        cap_percent: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let mut spec = ChannelSpec::new(id_in(id, "id")?, ids_in(locations, "locations")?);
        if let Some(v) = safety_units {
            spec = spec.safety_units(int_in(v, "safety_units")?);
        }
        if let Some(v) = holdback_percent {
            spec = spec.holdback_percent(decimal_in(v, "holdback_percent")?);
        }
        let cap_units = cap_units.filter(|v| !v.is_none());
        let cap_percent = cap_percent.filter(|v| !v.is_none());
        match (cap_units, cap_percent) {
            (Some(_), Some(_)) => {
                return Err(arg_err(
                    py,
                    "cap",
                    "give cap_units or cap_percent, not both",
                ));
            }
            (Some(u), None) => spec = spec.cap(Cap::Units(int_in(u, "cap_units")?)),
            (None, Some(p)) => spec = spec.cap(Cap::Percent(decimal_in(p, "cap_percent")?)),
            (None, None) => {}
        }
        let e = &self.inner;
        run(py, || e.upsert_channel(spec).map(|_| ()))
    }

    /// Takes a location out of a channel (atomically: no hold or sale in
    /// the channel is granted there once this returns).
    ///
    /// Locking: the topology writer, then every stripe.
    fn remove_location_from_channel(
        &self,
        py: Python<'_>,
        channel: &Bound<'_, PyAny>,
        location: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let (chan, loc) = (id_in(channel, "channel")?, id_in(location, "location")?);
        let e = &self.inner;
        run(py, || e.remove_location_from_channel(&chan, &loc))
    }

    /// Every location, in creation order.
    fn locations(&self, py: Python<'_>) -> PyResult<Vec<Location>> {
        let e = &self.inner;
        Ok(run_infallible(py, || e.locations())?
            .into_iter()
            .map(|l| Location {
                id: l.spec.id,
                kind: snake(&l.spec.kind),
                ships: l.spec.capabilities.ships,
                pickup: l.spec.capabilities.pickup,
                store_reservation: l.spec.capabilities.store_reservation,
                lat: l.spec.lat,
                lon: l.spec.lon,
                priority: l.spec.priority,
                cost_per_shipment: PyDecimal(l.spec.cost_per_shipment),
                cost_per_unit: PyDecimal(l.spec.cost_per_unit),
                daily_capacity: l.spec.daily_capacity,
                closed: l.closed,
            })
            .collect())
    }

    /// Every channel, in creation order.
    fn channels(&self, py: Python<'_>) -> PyResult<Vec<Channel>> {
        let e = &self.inner;
        Ok(run_infallible(py, || e.channels())?
            .into_iter()
            .map(|c| Channel {
                id: c.id,
                locations: c.locations,
                safety_units: c.safety_units,
                holdback_percent: PyDecimal(c.holdback_percent),
                cap_units: match c.cap {
                    Some(Cap::Units(n)) => Some(n),
                    _ => None,
                },
                cap_percent: match c.cap {
                    Some(Cap::Percent(p)) => Some(PyDecimal(p)),
                    _ => None,
                },
            })
            .collect())
    }

    /// What `channel` may sell of `sku` now, after its buffers and cap.
    ///
    /// Locking: the SKU's stripe.
    fn availability(
        &self,
        py: Python<'_>,
        channel: &Bound<'_, PyAny>,
        sku: &Bound<'_, PyAny>,
    ) -> PyResult<PyQty> {
        let (chan, sku) = (id_in(channel, "channel")?, id_in(sku, "sku")?);
        let e = &self.inner;
        run(py, || e.availability(&chan, &sku)).map(PyQty)
    }

    /// `availability` of many SKUs in one call, in order.
    ///
    /// Locking: each SKU's stripe in turn.
    fn availability_many(
        &self,
        py: Python<'_>,
        channel: &Bound<'_, PyAny>,
        skus: &Bound<'_, PyAny>,
    ) -> PyResult<Vec<PyQty>> {
        let chan = id_in(channel, "channel")?;
        let skus = ids_in(skus, "skus")?;
        let e = &self.inner;
        let refs: Vec<&str> = skus.iter().map(String::as_str).collect();
        Ok(run(py, || e.availability_many(&chan, &refs))?
            .into_iter()
            .map(PyQty)
            .collect())
    }

    /// What `channel` may sell of `sku` at each of its locations ("in stock
    /// at store X").
    ///
    /// Locking: the SKU's stripe.
    fn availability_by_location(
        &self,
        py: Python<'_>,
        channel: &Bound<'_, PyAny>,
        sku: &Bound<'_, PyAny>,
    ) -> PyResult<Vec<LocationAvailability>> {
        let (chan, sku) = (id_in(channel, "channel")?, id_in(sku, "sku")?);
        let e = &self.inner;
        Ok(run(py, || e.availability_by_location(&chan, &sku))?
            .into_iter()
            .map(|a| LocationAvailability {
                location: a.location,
                available: PyQty(a.available),
                closed: a.closed,
            })
            .collect())
    }
}
