//! Topology (locations, channels) and channel reads (mirrors
//! `unistock::location`, `unistock::channel` and `unistock::topology`).

use crate::convert::{
    JsQty, bool_in, decimal_in, decimal_out, field, float_in, int_in, is_nullish, object_in,
    str_in, strs_in,
};
use crate::engine::Engine;
use crate::errors::{Core, arg, enum_name, wrap};
use napi::bindgen_prelude::*;
use napi_derive::napi;
use unistock::{Cap, Capabilities, ChannelSpec, LocationKind, LocationSpec};

/// A location as the engine keeps it.
#[napi(object, object_from_js = false)]
pub struct Location {
    pub id: String,
    #[napi(ts_type = "'warehouse' | 'store' | 'dropship' | 'transit'")]
    pub kind: String,
    pub ships: bool,
    pub pickup: bool,
    pub store_reservation: bool,
    pub lat: f64,
    pub lon: f64,
    pub priority: i32,
    /// Decimal string.
    pub cost_per_shipment: String,
    /// Decimal string.
    pub cost_per_unit: String,
    pub daily_capacity: Option<u32>,
    pub closed: bool,
}

/// A channel: its eligible locations in fill order and its buffers.
#[napi(object, object_from_js = false)]
pub struct Channel {
    pub id: String,
    pub locations: Vec<String>,
    pub safety_units: f64,
    /// Decimal string.
    pub holdback_percent: String,
    pub cap_units: Option<f64>,
    /// Decimal string.
    pub cap_percent: Option<String>,
}

/// What a channel may sell at one of its locations.
#[napi(object, object_from_js = false)]
pub struct LocationAvailability {
    pub location: String,
    #[napi(ts_type = "Quantity")]
    pub available: JsQty,
    pub closed: bool,
}

/// A location as the host describes it; everything but `id` is optional.
#[napi(object, object_to_js = false)]
#[allow(dead_code)] // declares the TypeScript shape; read field by field in `convert`
pub struct LocationInput {
    pub id: String,
    #[napi(ts_type = "'warehouse' | 'store' | 'dropship' | 'transit'")]
    pub kind: Option<String>,
    pub ships: Option<bool>,
    pub pickup: Option<bool>,
    pub store_reservation: Option<bool>,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub priority: Option<f64>,
    #[napi(ts_type = "number | string")]
    pub cost_per_shipment: Option<String>,
    #[napi(ts_type = "number | string")]
    pub cost_per_unit: Option<String>,
    pub daily_capacity: Option<f64>,
}

/// A channel's buffers; all optional, at most one cap.
#[napi(object, object_to_js = false)]
#[allow(dead_code)] // declares the TypeScript shape; read field by field in `convert`
pub struct ChannelOptions {
    pub safety_units: Option<f64>,
    #[napi(ts_type = "number | string")]
    pub holdback_percent: Option<String>,
    pub cap_units: Option<f64>,
    #[napi(ts_type = "number | string")]
    pub cap_percent: Option<String>,
}

fn location_in(v: &Unknown<'_>) -> Core<LocationSpec> {
    let o = object_in(v, "location")?;
    let id = str_in(
        &field(&o, "id")?.ok_or_else(|| arg("id", "is required"))?,
        "id",
    )?;
    let kind = match field(&o, "kind")? {
        None => LocationKind::Warehouse,
        Some(k) => match str_in(&k, "kind")?.as_str() {
            "warehouse" => LocationKind::Warehouse,
            "store" => LocationKind::Store,
            "dropship" => LocationKind::Dropship,
            "transit" => LocationKind::Transit,
            _ => {
                return Err(arg(
                    "kind",
                    "must be 'warehouse', 'store', 'dropship' or 'transit'",
                ));
            }
        },
    };
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
    if let Some(v) = field(&o, "ships")? {
        spec.capabilities.ships = bool_in(&v, "ships")?;
    }
    if let Some(v) = field(&o, "pickup")? {
        spec.capabilities.pickup = bool_in(&v, "pickup")?;
    }
    if let Some(v) = field(&o, "storeReservation")? {
        spec.capabilities.store_reservation = bool_in(&v, "storeReservation")?;
    }
    if let Some(v) = field(&o, "lat")? {
        spec.lat = float_in(&v, "lat")?;
    }
    if let Some(v) = field(&o, "lon")? {
        spec.lon = float_in(&v, "lon")?;
    }
    if let Some(v) = field(&o, "priority")? {
        spec.priority = int_in(&v, "priority", i32::MIN as f64, i32::MAX as f64)? as i32;
    }
    if let Some(v) = field(&o, "costPerShipment")? {
        spec.cost_per_shipment = decimal_in(&v, "costPerShipment")?;
    }
    if let Some(v) = field(&o, "costPerUnit")? {
        spec.cost_per_unit = decimal_in(&v, "costPerUnit")?;
    }
    if let Some(v) = field(&o, "dailyCapacity")? {
        spec.daily_capacity = Some(int_in(&v, "dailyCapacity", 0.0, u32::MAX as f64)? as u32);
    }
    Ok(spec)
}

#[napi]
impl Engine {
    /// Adds or replaces a location. Capabilities default by kind
    /// (warehouses ship; stores ship, hand over pick-ups and keep
    /// reservations).
    ///
    /// Locking: the topology writer, then every stripe (the swap is atomic).
    #[napi(catch_unwind, ts_args_type = "location: LocationInput")]
    pub fn upsert_location(&self, env: Env, location: Unknown<'_>) -> Result<()> {
        wrap(&env, || {
            let spec = location_in(&location)?;
            self.inner.upsert_location(spec).map(|_| ())
        })
    }

    /// Closes (true) or reopens a location. A closed location takes no new
    /// holds or sales; existing holds and allocations there stay valid.
    ///
    /// Locking: the topology writer, then every stripe.
    #[napi(catch_unwind, ts_args_type = "location: string, closed: boolean")]
    pub fn set_location_closed(
        &self,
        env: Env,
        location: Unknown<'_>,
        closed: Unknown<'_>,
    ) -> Result<()> {
        wrap(&env, || {
            let loc = str_in(&location, "location")?;
            let closed = bool_in(&closed, "closed")?;
            self.inner.set_location_closed(&loc, closed)
        })
    }

    /// Adds or replaces a channel selling from `locations` in that order.
    ///
    /// Locking: the topology writer, then every stripe.
    #[napi(
        catch_unwind,
        ts_args_type = "id: string, locations: string[], options?: ChannelOptions | undefined | null"
    )]
    pub fn upsert_channel(
        &self,
        env: Env,
        id: Unknown<'_>,
        locations: Unknown<'_>,
        options: Option<Unknown<'_>>,
    ) -> Result<()> {
        wrap(&env, || {
            let mut spec = ChannelSpec::new(str_in(&id, "id")?, strs_in(&locations, "locations")?);
            if let Some(o) = options.filter(|o| !is_nullish(o)) {
                let o = object_in(&o, "options")?;
                if let Some(v) = field(&o, "safetyUnits")? {
                    spec = spec.safety_units(int_in(&v, "safetyUnits", 0.0, 1e15)?);
                }
                if let Some(v) = field(&o, "holdbackPercent")? {
                    spec = spec.holdback_percent(decimal_in(&v, "holdbackPercent")?);
                }
                match (field(&o, "capUnits")?, field(&o, "capPercent")?) {
                    (Some(_), Some(_)) => {
                        return Err(arg("cap", "give capUnits or capPercent, not both"));
                    }
                    (Some(u), None) => {
                        spec = spec.cap(Cap::Units(int_in(&u, "capUnits", 0.0, 1e15)?))
                    }
                    (None, Some(p)) => spec = spec.cap(Cap::Percent(decimal_in(&p, "capPercent")?)),
                    (None, None) => {}
                }
            }
            self.inner.upsert_channel(spec).map(|_| ())
        })
    }

    /// Takes a location out of a channel, atomically.
    ///
    /// Locking: the topology writer, then every stripe.
    #[napi(catch_unwind, ts_args_type = "channel: string, location: string")]
    pub fn remove_location_from_channel(
        &self,
        env: Env,
        channel: Unknown<'_>,
        location: Unknown<'_>,
    ) -> Result<()> {
        wrap(&env, || {
            let (chan, loc) = (str_in(&channel, "channel")?, str_in(&location, "location")?);
            self.inner.remove_location_from_channel(&chan, &loc)
        })
    }

    /// Every location, in creation order.
    #[napi(catch_unwind)]
    pub fn locations(&self) -> Vec<Location> {
        self.inner
            .locations()
            .into_iter()
            .map(|l| Location {
                id: l.spec.id,
                kind: enum_name(&l.spec.kind),
                ships: l.spec.capabilities.ships,
                pickup: l.spec.capabilities.pickup,
                store_reservation: l.spec.capabilities.store_reservation,
                lat: l.spec.lat,
                lon: l.spec.lon,
                priority: l.spec.priority,
                cost_per_shipment: decimal_out(l.spec.cost_per_shipment),
                cost_per_unit: decimal_out(l.spec.cost_per_unit),
                daily_capacity: l.spec.daily_capacity,
                closed: l.closed,
            })
            .collect()
    }

    /// Every channel, in creation order.
    #[napi(catch_unwind)]
    pub fn channels(&self) -> Vec<Channel> {
        self.inner
            .channels()
            .into_iter()
            .map(|c| Channel {
                id: c.id,
                locations: c.locations,
                safety_units: c.safety_units as f64,
                holdback_percent: decimal_out(c.holdback_percent),
                cap_units: match c.cap {
                    Some(Cap::Units(n)) => Some(n as f64),
                    _ => None,
                },
                cap_percent: match c.cap {
                    Some(Cap::Percent(p)) => Some(decimal_out(p)),
                    _ => None,
                },
            })
            .collect()
    }

    /// What `channel` may sell of `sku` now, after its buffers and cap.
    ///
    /// Locking: the SKU's stripe.
    #[napi(
        catch_unwind,
        ts_args_type = "channel: string, sku: string",
        ts_return_type = "Quantity"
    )]
    pub fn availability(&self, env: Env, channel: Unknown<'_>, sku: Unknown<'_>) -> Result<JsQty> {
        wrap(&env, || {
            let (chan, sku) = (str_in(&channel, "channel")?, str_in(&sku, "sku")?);
            Ok(JsQty(self.inner.availability(&chan, &sku)?))
        })
    }

    /// `availability` of many SKUs in one call, in order.
    ///
    /// Locking: each SKU's stripe in turn.
    #[napi(
        catch_unwind,
        ts_args_type = "channel: string, skus: string[]",
        ts_return_type = "Quantity[]"
    )]
    pub fn availability_many(
        &self,
        env: Env,
        channel: Unknown<'_>,
        skus: Unknown<'_>,
    ) -> Result<Vec<JsQty>> {
        wrap(&env, || {
            let chan = str_in(&channel, "channel")?;
            let skus = strs_in(&skus, "skus")?;
            let refs: Vec<&str> = skus.iter().map(String::as_str).collect();
            Ok(self
                .inner
                .availability_many(&chan, &refs)?
                .into_iter()
                .map(JsQty)
                .collect())
        })
    }

    /// What `channel` may sell of `sku` at each of its locations ("in stock
    /// at store X").
    ///
    /// Locking: the SKU's stripe.
    #[napi(catch_unwind, ts_args_type = "channel: string, sku: string")]
    pub fn availability_by_location(
        &self,
        env: Env,
        channel: Unknown<'_>,
        sku: Unknown<'_>,
    ) -> Result<Vec<LocationAvailability>> {
        wrap(&env, || {
            let (chan, sku) = (str_in(&channel, "channel")?, str_in(&sku, "sku")?);
            Ok(self
                .inner
                .availability_by_location(&chan, &sku)?
                .into_iter()
                .map(|a| LocationAvailability {
                    location: a.location,
                    available: JsQty(a.available),
                    closed: a.closed,
                })
                .collect())
        })
    }
}
