//! The topology: locations and channels, changeable at run time.
//!
//! The engine keeps one immutable `Topology` behind an `ArcSwap`. A change
//! builds the next one, then swaps it in while holding every stock stripe,
//! so no operation ever sees half a change: once `close_location` returns,
//! no hold, order or sale is granted there.

use crate::channel::{Channel, ChannelSpec};
use crate::durable::rec::Rec;
use crate::engine::{Engine, Txn};
use crate::error::{Error, Result};
use crate::ids::{ChannelId, Key, LocationId};
use crate::ledger::EventKind;
use crate::location::{Location, LocationSpec};
use crate::names::{NameTable, hash};
use crate::stock::SkuStock;
use std::borrow::Cow;
use std::sync::Arc;

#[derive(Clone, Default, Debug)]
pub(crate) struct Topology {
    pub locations: Vec<Location>,
    loc_index: NameTable,
    pub channels: Vec<Option<Channel>>,
    chan_index: NameTable,
    /// Derived lookups, rebuilt after every change (see `reindex`).
    derived: Derived,
}

/// Lookups derived from the locations and channels, so that hot paths
/// neither search nor allocate.
#[derive(Clone, Default, Debug)]
struct Derived {
    /// Per location id: its rank among all location ids sorted by the
    /// host's id (routing breaks ties by it).
    name_rank: Vec<u32>,
    /// Per channel id, per location id: the location's position in the
    /// channel's list (`u32::MAX`: not in the channel).
    chan_slots: Vec<Vec<u32>>,
    /// Per location id: its position on the unit sphere (routing ranks
    /// distances by chords).
    units: Vec<[f64; 3]>,
}

impl Topology {
    #[inline]
    pub fn location_id(&self, name: &str) -> Option<LocationId> {
        self.loc_index.get(name, hash(name)).map(LocationId)
    }
    #[inline]
    pub fn channel_id(&self, name: &str) -> Option<ChannelId> {
        self.chan_index.get(name, hash(name)).map(ChannelId)
    }
    #[inline]
    pub fn location(&self, id: LocationId) -> &Location {
        &self.locations[id.0 as usize]
    }
    #[inline]
    pub fn channel(&self, id: ChannelId) -> Option<&Channel> {
        self.channels.get(id.0 as usize).and_then(Option::as_ref)
    }
    #[inline]
    pub fn is_closed(&self, id: LocationId) -> bool {
        self.locations[id.0 as usize].closed
    }

    /// What every channel may sell of this SKU, in channel id order.
    pub fn channel_availabilities(&self, stock: &SkuStock) -> Vec<(ChannelId, i64)> {
        self.channels
            .iter()
            .enumerate()
            .filter_map(|(i, c)| {
                c.as_ref()
                    .map(|c| (ChannelId(i as u32), c.available(self, stock)))
            })
            .collect()
    }

    pub(crate) fn from_parts(locations: Vec<Location>, channels: Vec<Option<Channel>>) -> Topology {
        let loc_index = locations
            .iter()
            .enumerate()
            .map(|(i, l)| (l.key.clone(), i as u32))
            .collect();
        let chan_index = channels
            .iter()
            .enumerate()
            .filter_map(|(i, c)| c.as_ref().map(|c| (c.key.clone(), i as u32)))
            .collect();
        let mut t = Topology {
            locations,
            loc_index,
            channels,
            chan_index,
            derived: Derived::default(),
        };
        t.reindex();
        t
    }

    /// Rebuilds the derived lookups (after any change).
    pub(crate) fn reindex(&mut self) {
        for c in self.channels.iter_mut().flatten() {
            c.index();
        }
        let mut by_name: Vec<u32> = (0..self.locations.len() as u32).collect();
        by_name.sort_by(|&a, &b| {
            self.locations[a as usize]
                .key
                .cmp(&self.locations[b as usize].key)
        });
        let mut name_rank = vec![0; self.locations.len()];
        for (rank, &id) in by_name.iter().enumerate() {
            name_rank[id as usize] = rank as u32;
        }
        let chan_slots = self
            .channels
            .iter()
            .map(|c| {
                let mut slots = vec![u32::MAX; self.locations.len()];
                if let Some(c) = c {
                    for (i, l) in c.locations.iter().enumerate() {
                        slots[l.0 as usize] = i as u32;
                    }
                }
                slots
            })
            .collect();
        let units = self
            .locations
            .iter()
            .map(|l| crate::location::unit_vector(l.spec.lat, l.spec.lon))
            .collect();
        self.derived = Derived {
            name_rank,
            chan_slots,
            units,
        };
    }

    /// The location's rank by the host's id.
    #[inline]
    pub fn name_rank(&self, id: LocationId) -> u32 {
        self.derived.name_rank[id.0 as usize]
    }

    /// A location's position on the unit sphere.
    #[inline]
    pub(crate) fn unit(&self, id: LocationId) -> [f64; 3] {
        self.derived.units[id.0 as usize]
    }

    /// Per location id, its position in the channel's list (`u32::MAX`
    /// when not in it).
    #[inline]
    pub fn chan_slots(&self, id: ChannelId) -> &[u32] {
        &self.derived.chan_slots[id.0 as usize]
    }

    fn resolve_locations(&self, names: &[String]) -> Result<Vec<LocationId>> {
        let mut ids = Vec::with_capacity(names.len());
        for n in names {
            let id = self.location_id(n).ok_or_else(|| Error::UnknownLocation {
                location: n.clone(),
            })?;
            if ids.contains(&id) {
                return Err(Error::arg(
                    "locations",
                    format!("location `{n}` listed twice"),
                ));
            }
            ids.push(id);
        }
        Ok(ids)
    }
}

/// Topology changes. Each takes the topology writer mutex, then every stock
/// stripe (ascending) for the instant of the swap, then the meta-ledger.
impl Engine {
    /// Adds a location, or updates one with the same id (its closed flag is kept).
    pub fn upsert_location(&self, spec: LocationSpec) -> Result<LocationId> {
        spec.validate()?;
        let name = spec.id.clone();
        let rec = Rec::UpsertLocation(Cow::Owned(spec.clone()));
        self.change_topology(EventKind::LocationChanged, &name, &rec, |t| {
            Ok(match t.location_id(&spec.id) {
                Some(id) => {
                    let l = &mut t.locations[id.0 as usize];
                    l.spec = spec;
                    id
                }
                None => {
                    let id = LocationId(t.locations.len() as u32);
                    let key = Key::new(&spec.id);
                    t.locations.push(Location {
                        key: key.clone(),
                        spec,
                        closed: false,
                    });
                    t.loc_index.insert(key, id.0);
                    id
                }
            })
        })
    }

    /// Closes (`true`) or reopens a location. A closed location takes no new
    /// holds or sales; existing holds and allocations there stay valid.
    pub fn set_location_closed(&self, location: &str, closed: bool) -> Result<()> {
        let rec = Rec::SetClosed {
            loc: location,
            closed,
        };
        self.change_topology(EventKind::LocationChanged, location, &rec, |t| {
            let id = t
                .location_id(location)
                .ok_or_else(|| Error::UnknownLocation {
                    location: location.to_string(),
                })?;
            t.locations[id.0 as usize].closed = closed;
            Ok(())
        })
    }

    /// Adds a channel or replaces one with the same id.
    pub fn upsert_channel(&self, spec: ChannelSpec) -> Result<ChannelId> {
        let name = spec.id.clone();
        let rec = Rec::UpsertChannel(Cow::Owned(spec.clone()));
        self.change_topology(EventKind::ChannelChanged, &name, &rec, |t| {
            let locs = t.resolve_locations(&spec.locations)?;
            let channel = Channel::compile(spec, locs)?;
            Ok(match t.channel_id(&channel.spec.id) {
                Some(id) => {
                    t.channels[id.0 as usize] = Some(channel);
                    id
                }
                None => {
                    let id = ChannelId(t.channels.len() as u32);
                    t.chan_index.insert(channel.key.clone(), id.0);
                    t.channels.push(Some(channel));
                    id
                }
            })
        })
    }

    /// Takes a location out of a channel's eligible list.
    pub fn remove_location_from_channel(&self, channel: &str, location: &str) -> Result<()> {
        let rec = Rec::RemoveFromChannel {
            channel,
            loc: location,
        };
        self.change_topology(EventKind::ChannelChanged, channel, &rec, |t| {
            let cid = t.channel_id(channel).ok_or_else(|| Error::UnknownChannel {
                channel: channel.to_string(),
            })?;
            let lid = t
                .location_id(location)
                .ok_or_else(|| Error::UnknownLocation {
                    location: location.to_string(),
                })?;
            let ch = t.channels[cid.0 as usize]
                .as_mut()
                .expect("indexed channels exist");
            let pos = ch.locations.iter().position(|&l| l == lid).ok_or_else(|| {
                Error::LocationNotInChannel {
                    channel: channel.to_string(),
                    location: location.to_string(),
                }
            })?;
            ch.locations.remove(pos);
            ch.spec.locations.remove(pos);
            Ok(())
        })
    }

    /// Every location, in id order.
    pub fn locations(&self) -> Vec<Location> {
        self.topo.load().locations.clone()
    }

    /// Every channel's spec, in id order.
    pub fn channels(&self) -> Vec<ChannelSpec> {
        self.topo
            .load()
            .channels
            .iter()
            .flatten()
            .map(|c| c.spec.clone())
            .collect()
    }

    /// With every stripe locked by `txn` and the new topology in place:
    /// SKUs whose pool claims can now bind fewer units than under
    /// `before`, with how many fewer.
    fn new_pool_shortages(&self, txn: &Txn<'_>, before: &Topology) -> Vec<(crate::SkuId, i64)> {
        let now = self.topo.load();
        txn.pooled_skus()
            .into_iter()
            .filter_map(|sku| {
                let stock = txn.stock(sku);
                let more =
                    crate::pool::deficiency(&now, stock) - crate::pool::deficiency(before, stock);
                (more > 0).then_some((sku, more))
            })
            .collect()
    }

    fn change_topology<T>(
        &self,
        kind: EventKind,
        reference: &str,
        rec: &Rec<'_>,
        f: impl FnOnce(&mut Topology) -> Result<T>,
    ) -> Result<T> {
        let _writer = self.topo_write.lock();
        let mut next = Topology::clone(&self.topo.load());
        let out = f(&mut next)?;
        next.reindex();
        let mut txn = Txn::begin_all(self, self.now_ms());
        let before = self.topo.load_full();
        self.topo.store(Arc::new(next));
        self.topo_gen
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        self.meta_event(kind, None, None, 0, reference, rec);
        // A store closing or leaving a channel may leave pool claims with
        // too few locations: never hidden, reported as shortages (recovery
        // replays them from their own record).
        let short = if self.replaying {
            Vec::new()
        } else {
            self.new_pool_shortages(&txn, &before)
        };
        if short.is_empty() {
            txn.abandon();
        } else {
            let names: Vec<(crate::ids::Key, i64)> =
                short.iter().map(|&(s, q)| (self.skus.name(s), q)).collect();
            let note = crate::Note {
                reason: "",
                reference: Some(reference),
            };
            for &(sku, q) in &short {
                txn.record_pool_shortage(sku, q, note);
            }
            let items = names.iter().map(|(n, q)| (n.as_str(), *q)).collect();
            self.finish(txn, &Rec::PoolShortage { reference, items });
        }
        drop(_writer);
        self.durable(Ok(out))
    }
}
