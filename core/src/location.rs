//! Locations: where stock physically is.

use crate::ids::Key;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// What a location is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LocationKind {
    /// A warehouse or distribution centre.
    Warehouse,
    /// A physical store with tills.
    Store,
    /// A dropship supplier.
    Dropship,
    /// Stock on the move between locations.
    Transit,
}

/// What a location can do for an order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct Capabilities {
    /// Ships parcels.
    pub ships: bool,
    /// Hands over click & collect orders.
    pub pickup: bool,
    /// Keeps click & reserve items aside for customers.
    pub store_reservation: bool,
}

/// A location as the host describes it. The `id` is the host's string id.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LocationSpec {
    pub id: String,
    pub kind: LocationKind,
    pub capabilities: Capabilities,
    /// Latitude in degrees (-90..=90).
    pub lat: f64,
    /// Longitude in degrees (-180..=180).
    pub lon: f64,
    /// Higher sorts first in priority routing.
    pub priority: i32,
    pub cost_per_shipment: Decimal,
    pub cost_per_unit: Decimal,
    /// Orders it can still pick today; `None` is unlimited.
    pub daily_capacity: Option<u32>,
}

impl LocationSpec {
    /// A warehouse that ships.
    pub fn warehouse(id: impl Into<String>) -> Self {
        Self::new(
            id,
            LocationKind::Warehouse,
            Capabilities {
                ships: true,
                ..Default::default()
            },
        )
    }
    /// A store that offers pickup and store reservations (not shipping).
    pub fn store(id: impl Into<String>) -> Self {
        Self::new(
            id,
            LocationKind::Store,
            Capabilities {
                ships: false,
                pickup: true,
                store_reservation: true,
            },
        )
    }
    /// A location of any kind with the given capabilities.
    pub fn new(id: impl Into<String>, kind: LocationKind, capabilities: Capabilities) -> Self {
        LocationSpec {
            id: id.into(),
            kind,
            capabilities,
            lat: 0.0,
            lon: 0.0,
            priority: 0,
            cost_per_shipment: Decimal::ZERO,
            cost_per_unit: Decimal::ZERO,
            daily_capacity: None,
        }
    }
    /// Sets the position.
    pub fn at(mut self, lat: f64, lon: f64) -> Self {
        (self.lat, self.lon) = (lat, lon);
        self
    }
    /// Sets the routing priority.
    pub fn priority(mut self, priority: i32) -> Self {
        self.priority = priority;
        self
    }
    /// Sets the per-shipment and per-unit costs.
    pub fn costs(mut self, per_shipment: Decimal, per_unit: Decimal) -> Self {
        (self.cost_per_shipment, self.cost_per_unit) = (per_shipment, per_unit);
        self
    }
    /// Sets the daily order capacity.
    pub fn daily_capacity(mut self, orders: u32) -> Self {
        self.daily_capacity = Some(orders);
        self
    }
    /// Lets a store ship too (ship-from-store).
    pub fn ships(mut self, ships: bool) -> Self {
        self.capabilities.ships = ships;
        self
    }

    pub(crate) fn validate(&self) -> crate::Result<()> {
        crate::ids::check_id("location", &self.id)?;
        if !(self.lat.is_finite() && (-90.0..=90.0).contains(&self.lat)) {
            return Err(crate::Error::arg(
                "lat",
                "must be a finite number in -90..=90",
            ));
        }
        if !(self.lon.is_finite() && (-180.0..=180.0).contains(&self.lon)) {
            return Err(crate::Error::arg(
                "lon",
                "must be a finite number in -180..=180",
            ));
        }
        if self.cost_per_shipment.is_sign_negative() || self.cost_per_unit.is_sign_negative() {
            return Err(crate::Error::arg("cost", "must not be negative"));
        }
        Ok(())
    }
}

/// A location as the engine keeps it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Location {
    pub(crate) key: Key,
    pub spec: LocationSpec,
    /// A closed location takes no new holds or sales; what it already holds
    /// or has allocated can still be committed, fulfilled or cancelled.
    pub closed: bool,
}

/// A position on the unit sphere.
pub(crate) fn unit_vector(lat: f64, lon: f64) -> [f64; 3] {
    let (la, lo) = (lat.to_radians(), lon.to_radians());
    [la.cos() * lo.cos(), la.cos() * lo.sin(), la.sin()]
}
