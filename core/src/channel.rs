//! Channels: where demand comes from, and what each may sell.

use crate::ids::{Key, LocationId};
use crate::qty::{MAX_MINOR, percent_to_ppm};
use crate::stock::SkuStock;
use crate::topology::Topology;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// A ceiling on what a channel may see (marketplaces, social shops).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cap {
    /// At most this many whole units per SKU.
    Units(i64),
    /// At most this percentage of the SKU's available stock across the
    /// channel's locations (rounded down).
    Percent(Decimal),
}

/// A channel as the host describes it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChannelSpec {
    /// The host's id: `web`, `app`, `store:<id>`, `marketplace:<name>`...
    pub id: String,
    /// Eligible locations, in the order holds are filled from.
    pub locations: Vec<String>,
    /// Whole units per SKU held back from this channel.
    pub safety_units: i64,
    /// Percentage of available stock held back (rounded up), 0..=100.
    pub holdback_percent: Decimal,
    /// Optional ceiling.
    pub cap: Option<Cap>,
}

impl ChannelSpec {
    /// A channel selling from `locations` in that order, with no buffers.
    pub fn new<S: Into<String>>(
        id: impl Into<String>,
        locations: impl IntoIterator<Item = S>,
    ) -> Self {
        ChannelSpec {
            id: id.into(),
            locations: locations.into_iter().map(Into::into).collect(),
            safety_units: 0,
            holdback_percent: Decimal::ZERO,
            cap: None,
        }
    }
    /// Holds back `units` of every SKU from this channel.
    pub fn safety_units(mut self, units: i64) -> Self {
        self.safety_units = units;
        self
    }
    /// Holds back a percentage of every SKU's stock.
    pub fn holdback_percent(mut self, pct: Decimal) -> Self {
        self.holdback_percent = pct;
        self
    }
    /// Caps what the channel may see.
    pub fn cap(mut self, cap: Cap) -> Self {
        self.cap = Some(cap);
        self
    }
}

/// The compiled form of a [`ChannelSpec`].
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Channel {
    pub key: Key,
    pub spec: ChannelSpec,
    pub locations: Vec<LocationId>,
    pub holdback_ppm: i64,
    pub cap: Option<CapRule>,
    /// Bit per location id: eligible here (rebuilt by the topology).
    #[serde(skip)]
    pub member: Vec<u64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum CapRule {
    Units(i64),
    Ppm(i64),
}

const PPM: i128 = 1_000_000;

/// Equal when spec and compiled rules are (the membership bits are derived).
impl PartialEq for Channel {
    fn eq(&self, o: &Channel) -> bool {
        self.key == o.key
            && self.spec == o.spec
            && self.locations == o.locations
            && self.holdback_ppm == o.holdback_ppm
            && self.cap == o.cap
    }
}

impl Channel {
    pub(crate) fn compile(spec: ChannelSpec, locations: Vec<LocationId>) -> crate::Result<Channel> {
        crate::ids::check_id("channel", &spec.id)?;
        if !(0..=MAX_MINOR).contains(&spec.safety_units) {
            return Err(crate::Error::arg("safety_units", "must be in 0..=10^15"));
        }
        let holdback_ppm = percent_to_ppm(spec.holdback_percent).ok_or_else(|| {
            crate::Error::arg(
                "holdback_percent",
                "must be 0..=100 with at most 4 decimals",
            )
        })?;
        let cap = match spec.cap {
            None => None,
            Some(Cap::Units(n)) if (0..=MAX_MINOR).contains(&n) => Some(CapRule::Units(n)),
            Some(Cap::Units(_)) => {
                return Err(crate::Error::arg("cap", "units must be in 0..=10^15"));
            }
            Some(Cap::Percent(p)) => Some(CapRule::Ppm(percent_to_ppm(p).ok_or_else(|| {
                crate::Error::arg("cap", "percent must be 0..=100 with at most 4 decimals")
            })?)),
        };
        let mut c = Channel {
            key: Key::new(&spec.id),
            spec,
            locations,
            holdback_ppm,
            cap,
            member: Vec::new(),
        };
        c.index();
        Ok(c)
    }

    /// Rebuilds the membership bits from the location list.
    pub(crate) fn index(&mut self) {
        let max = self
            .locations
            .iter()
            .map(|l| l.0 as usize + 1)
            .max()
            .unwrap_or(0);
        self.member = vec![0; max.div_ceil(64)];
        for l in &self.locations {
            self.member[l.0 as usize / 64] |= 1 << (l.0 % 64);
        }
    }

    /// Sum of available-to-promise over the open eligible locations; for a
    /// SKU with pool claims, what those locations can still give without
    /// leaving a claim unbindable (see [`crate::pool`]).
    pub(crate) fn raw_available(&self, topo: &Topology, stock: &SkuStock) -> i64 {
        if stock.has_pool() {
            return crate::pool::spare(topo, stock, crate::pool::Set::Channel(self));
        }
        self.raw_sum(topo, stock)
    }

    /// Sum of available-to-promise over the open eligible locations,
    /// whatever pool claims there are.
    pub(crate) fn raw_sum(&self, topo: &Topology, stock: &SkuStock) -> i64 {
        if stock.locs.len() < self.locations.len() {
            // Fewer stocked locations than eligible ones: walk those.
            let mut sum: i64 = 0;
            for l in stock.locs.iter() {
                if self.contains(l.loc) && !topo.is_closed(l.loc) {
                    sum = sum.saturating_add(l.atp().max(0));
                }
            }
            return sum;
        }
        let mut sum: i64 = 0;
        for &loc in &self.locations {
            if !topo.is_closed(loc) {
                sum = sum.saturating_add(stock.atp(loc).max(0));
            }
        }
        sum
    }

    /// What the channel may sell of a SKU whose raw availability is `raw`.
    pub(crate) fn buffered(&self, raw: i64, scale: u8) -> i64 {
        if self.holdback_ppm == 0 && self.cap.is_none() {
            // No percentages: no 128-bit arithmetic.
            let safety = self
                .spec
                .safety_units
                .saturating_mul(10i64.pow(scale as u32));
            return raw.saturating_sub(safety).max(0);
        }
        let unit = 10i64.pow(scale as u32);
        let raw128 = raw as i128;
        let holdback = (raw128 * self.holdback_ppm as i128 + PPM - 1) / PPM;
        let mut avail = raw128 - holdback - (self.spec.safety_units as i128 * unit as i128);
        match self.cap {
            Some(CapRule::Units(n)) => avail = avail.min(n as i128 * unit as i128),
            Some(CapRule::Ppm(p)) => avail = avail.min(raw128 * p as i128 / PPM),
            None => {}
        }
        avail.clamp(0, i64::MAX as i128) as i64
    }

    /// What the channel may sell of this SKU now.
    pub(crate) fn available(&self, topo: &Topology, stock: &SkuStock) -> i64 {
        self.buffered(self.raw_available(topo, stock), stock.scale)
    }

    #[inline]
    pub(crate) fn contains(&self, loc: LocationId) -> bool {
        self.member
            .get(loc.0 as usize / 64)
            .is_some_and(|w| w & (1 << (loc.0 % 64)) != 0)
    }
}

/// What a channel may sell at one of its locations ("in stock at store X").
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocationAvailability {
    pub location: String,
    /// The location's available-to-promise (less what pool holds need from
    /// it), capped by the channel's own availability; zero when closed.
    pub available: crate::Qty,
    pub closed: bool,
}

/// Channel reads. Each locks one SKU stripe at a time; a many-SKU read is
/// consistent per SKU, not across SKUs.
impl crate::Engine {
    /// What `channel` may sell of `sku` now, after its buffers and cap.
    ///
    /// Locking: the SKU's stripe.
    pub fn availability(&self, channel: &str, sku: &str) -> crate::Result<crate::Qty> {
        let chan = self.channel_id(channel)?;
        let (id, scale) = self.sku_id(sku)?;
        self.now_and_sweep();
        self.read_stock(id, |stock| {
            let topo = self.topo.load();
            let ch = topo
                .channel(chan)
                .ok_or_else(|| crate::Error::UnknownChannel {
                    channel: channel.to_string(),
                })?;
            Ok(crate::Qty::from_minor(ch.available(&topo, stock), scale))
        })
    }

    /// `availability` for many SKUs in one call, in the same order.
    ///
    /// Locking: each SKU's stripe in turn.
    pub fn availability_many(
        &self,
        channel: &str,
        skus: &[&str],
    ) -> crate::Result<Vec<crate::Qty>> {
        let chan = self.channel_id(channel)?;
        let ids = skus
            .iter()
            .map(|s| self.sku_id(s))
            .collect::<crate::Result<Vec<_>>>()?;
        self.now_and_sweep();
        ids.into_iter()
            .map(|(id, scale)| {
                self.read_stock(id, |stock| {
                    let topo = self.topo.load();
                    let ch = topo
                        .channel(chan)
                        .ok_or_else(|| crate::Error::UnknownChannel {
                            channel: channel.to_string(),
                        })?;
                    Ok(crate::Qty::from_minor(ch.available(&topo, stock), scale))
                })
            })
            .collect()
    }

    /// Per eligible location, what the channel may sell there, in the
    /// channel's order (for a store locator).
    ///
    /// Locking: the SKU's stripe.
    pub fn availability_by_location(
        &self,
        channel: &str,
        sku: &str,
    ) -> crate::Result<Vec<LocationAvailability>> {
        let chan = self.channel_id(channel)?;
        let (id, scale) = self.sku_id(sku)?;
        self.now_and_sweep();
        self.read_stock(id, |stock| {
            let topo = self.topo.load();
            let ch = topo
                .channel(chan)
                .ok_or_else(|| crate::Error::UnknownChannel {
                    channel: channel.to_string(),
                })?;
            let total = ch.available(&topo, stock);
            Ok(ch
                .locations
                .iter()
                .map(|&loc| {
                    let closed = topo.is_closed(loc);
                    let avail = if closed {
                        0
                    } else {
                        crate::pool::spare(&topo, stock, crate::pool::Set::Location(loc)).min(total)
                    };
                    LocationAvailability {
                        location: topo.location(loc).key.to_string(),
                        available: crate::Qty::from_minor(avail, scale),
                        closed,
                    }
                })
                .collect())
        })
    }
}
