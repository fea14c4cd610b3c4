//! SKUs: the sellable items, and the registry that interns their ids.

use crate::ids::{Key, SkuId};
use crate::names::{NameTable, hash};
use crate::qty::MAX_SCALE;
use crate::sync::{Mutex, RwLock};
use arc_swap::ArcSwap;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// How a SKU is measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SkuSpec {
    /// Decimals a quantity of this SKU may have (0 = whole units, up to 6).
    pub unit_scale: u8,
}

/// Interns SKU ids.
///
/// Lookups of known SKUs take no lock: they probe an immutable open-
/// addressing table published through an `ArcSwap`. An entry is 32 bytes
/// (two per cache line, never straddling one): 32 bits of the name's hash,
/// the id and unit scale packed in 32 bits, and the name, inline when it is
/// at most 23 bytes, so a hit is usually one cache line. The table has
/// 4/3 the SKUs it holds, of any size (4 MiB for 100,000 SKUs; a power of
/// two would cost up to twice that, 6.7 bytes per stock record of a
/// million SKUs at ten locations, not 4.3): small enough to
/// stay in cache, where a hit costs a tenth of a miss to memory. SKUs
/// created since the table was built wait in a small delta map under a
/// mutex, and the table is rebuilt with them once they are many or are
/// looked up often, so the rebuild cost stays proportional to the SKUs
/// created. Creation is serialized by one mutex (it is rare).
pub(crate) struct SkuRegistry {
    table: ArcSwap<Table>,
    delta: Mutex<Delta>,
    names: RwLock<Vec<(Key, u8)>>,
    create: Mutex<()>,
    /// How many times the table was rebuilt (tests check it stays
    /// logarithmic in the number of SKUs).
    rebuilds: std::sync::atomic::AtomicU64,
}

#[derive(Default)]
struct Delta {
    map: crate::ids::FastMap<Key, (SkuId, u8)>,
    /// Lookups answered from the delta since the last rebuild.
    hits: usize,
}

/// The SKU table: a [`NameTable`] whose values pack the id and the unit
/// scale (`id << SCALE_BITS | scale`).
struct Table(NameTable);

/// Bits of a packed value that hold the unit scale (0..=MAX_SCALE).
const SCALE_BITS: u32 = 3;
const _: () = assert!(MAX_SCALE < 1 << SCALE_BITS);
/// SKU ids are below this (the rest of a packed value, less the free mark).
const MAX_SKUS: usize = (u32::MAX >> SCALE_BITS) as usize;

#[inline]
fn unpack(v: u32) -> (SkuId, u8) {
    (SkuId(v >> SCALE_BITS), (v & ((1 << SCALE_BITS) - 1)) as u8)
}

impl Table {
    fn with_capacity(n: usize) -> Table {
        Table(NameTable::with_capacity(n))
    }

    #[inline]
    fn get(&self, name: &str, h: u64) -> Option<(SkuId, u8)> {
        self.0.get(name, h).map(unpack)
    }

    /// The SKU named `name`, or the free slot where it would go.
    #[inline]
    fn find(&self, name: &str, h: u64) -> Result<(SkuId, u8), usize> {
        self.0.find(name, h).map(unpack)
    }

    /// Fills the free slot `find` gave for `name`.
    fn fill(&mut self, slot: usize, name: Key, h: u64, id: SkuId, scale: u8) {
        self.0
            .fill(slot, name, h, id.0 << SCALE_BITS | u32::from(scale));
    }

    /// A table of `old`'s SKUs and `delta`'s, with room for `extra` more.
    fn merged(old: &Table, delta: &Delta, extra: usize) -> Table {
        let mut table = Table::with_capacity(old.0.len() + delta.map.len() + extra);
        for (name, v) in old.0.iter() {
            let (id, scale) = unpack(v);
            table.insert(name.clone(), hash(name), id, scale);
        }
        for (name, &(id, scale)) in delta.map.iter() {
            table.insert(name.clone(), hash(name), id, scale);
        }
        table
    }

    /// Adds a SKU the table does not hold.
    fn insert(&mut self, name: Key, h: u64, id: SkuId, scale: u8) {
        let slot = self.find(&name, h).expect_err("a SKU is in a table once");
        self.fill(slot, name, h, id, scale);
    }
}

/// A registry table taken once for several lookups ([`SkuRegistry::lookup`]).
pub(crate) struct SkuLookup<'r> {
    reg: &'r SkuRegistry,
    table: arc_swap::Guard<Arc<Table>>,
}

impl SkuLookup<'_> {
    /// As [`SkuRegistry::get`].
    #[inline]
    pub(crate) fn get(&self, sku: &str) -> Option<(SkuId, u8)> {
        let h = hash(sku);
        if let Some(found) = self.table.get(sku, h) {
            return Some(found);
        }
        self.reg.get_slow(sku, h)
    }

    /// `get` without the slow path (a SKU created since the table was
    /// built is `None`): for prefetching, and for recovery's reading
    /// thread, which looks SKUs up ahead of the replay.
    #[inline]
    pub(crate) fn get_fast(&self, sku: &str) -> Option<(SkuId, u8)> {
        self.table.get(sku, hash(sku))
    }

    /// Starts loading the table entry `get(sku)` reads first.
    #[inline]
    pub(crate) fn prefetch(&self, sku: &str) {
        self.table.0.prefetch(hash(sku));
    }

    /// As `get`; an unknown SKU is an error.
    #[inline]
    pub(crate) fn id(&self, sku: &str) -> crate::Result<(SkuId, u8)> {
        self.get(sku).ok_or_else(|| crate::Error::UnknownSku {
            sku: sku.to_string(),
        })
    }
}

impl SkuRegistry {
    pub(crate) fn new() -> Self {
        SkuRegistry {
            table: ArcSwap::from_pointee(Table::with_capacity(0)),
            delta: Mutex::new(Delta::default()),
            names: RwLock::new(Vec::new()),
            create: Mutex::new(()),
            rebuilds: Default::default(),
        }
    }

    /// The id and unit scale of a known SKU.
    ///
    /// Locking: none for SKUs in the table; the delta mutex otherwise.
    #[inline]
    pub(crate) fn get(&self, sku: &str) -> Option<(SkuId, u8)> {
        self.lookup().get(sku)
    }

    /// The current table, for many lookups (a batch) at the cost of one
    /// load. SKUs created after it was taken are still found (through the
    /// delta, or the table then current).
    #[inline]
    pub(crate) fn lookup(&self) -> SkuLookup<'_> {
        SkuLookup {
            reg: self,
            table: self.table.load(),
        }
    }

    #[cold]
    fn get_slow(&self, sku: &str, h: u64) -> Option<(SkuId, u8)> {
        let mut delta = self.delta.lock();
        // The table is swapped with the delta locked: together they are
        // consistent here, whatever the lock-free probe above saw.
        if let Some(found) = self.table.load().get(sku, h) {
            return Some(found);
        }
        let found = delta.map.get(sku).copied()?;
        delta.hits += 1;
        // A rebuild copies the whole table: it waits until slow lookups
        // have paid for half of it, so a bulk load (each new SKU looked up
        // again at once) stays linear.
        if delta.hits > 64 + self.table.load().0.len() / 2 + delta.map.len() {
            self.rebuild(&mut delta);
        }
        Some(found)
    }

    /// Moves the delta into a new table. Called with the delta locked.
    fn rebuild(&self, delta: &mut Delta) {
        let table = Table::merged(&self.table.load(), delta, 0);
        self.publish(delta, table);
    }

    /// Makes `table`, which holds every SKU of the delta, the current one.
    /// Called with the delta locked.
    fn publish(&self, delta: &mut Delta, table: Table) {
        self.rebuilds
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.table.store(Arc::new(table));
        // A large delta gives its memory back.
        if delta.map.capacity() > 1024 {
            delta.map = Default::default();
        } else {
            delta.map.clear();
        }
        delta.hits = 0;
    }

    /// Creates each SKU of `skus` not known yet (names already checked;
    /// repeats count once), with unit scale `scale`; returns how many it
    /// created. `init` runs for each before its id is known to anyone (as
    /// in `get_or_create`). Many SKUs (a catalogue import) go straight into
    /// one new table, which also finds repeats and known SKUs: one probe
    /// per name, no delta map grown a million times over. A few go through
    /// the delta, one at a time, so a small load into a large catalogue
    /// does not copy the table.
    ///
    /// Locking: the creation mutex throughout; per SKU, what `init` locks,
    /// then the name list; the delta mutex briefly at the start and end.
    pub(crate) fn create_many(
        &self,
        skus: &[&str],
        scale: u8,
        mut init: impl FnMut(SkuId, u8, &str),
    ) -> crate::Result<u64> {
        let _g = self.create.lock();
        let old = self.table.load_full();
        if skus.len() < 64 + old.0.len() / 8 {
            let mut created = 0;
            for &sku in skus {
                if self.get(sku).is_none() {
                    self.create_locked(sku, scale, |id, scale| init(id, scale, sku))?;
                    created += 1;
                }
            }
            return Ok(created);
        }
        // Only creators add to the delta, and this one holds the creation
        // mutex: what it holds now is all it will hold.
        let mut table = Table::merged(&old, &self.delta.lock(), skus.len());
        drop(old);
        let mut next = {
            let mut names = self.names.write();
            names.reserve_exact(skus.len());
            names.len()
        };
        let (first, mut failed) = (next, None);
        for &sku in skus {
            let h = hash(sku);
            let Err(slot) = table.find(sku, h) else {
                continue;
            };
            if next >= MAX_SKUS {
                failed = Some(crate::Error::arg("sku", "too many SKUs"));
                break;
            }
            let id = SkuId(next as u32);
            init(id, scale, sku);
            let key = Key::new(sku);
            self.names.write().push((key.clone(), scale));
            table.fill(slot, key, h, id, scale);
            next += 1;
        }
        if table.0.len() * 3 < table.0.capacity() {
            // Mostly repeats: the table was sized for far more names.
            table = Table::merged(&table, &Delta::default(), 0);
        }
        // Those created before a failure are published all the same.
        let mut delta = self.delta.lock();
        self.publish(&mut delta, table);
        match failed {
            Some(e) => Err(e),
            None => Ok((next - first) as u64),
        }
    }

    pub(crate) fn name(&self, id: SkuId) -> Key {
        self.names.read()[id.0 as usize].0.clone()
    }

    pub(crate) fn len(&self) -> usize {
        self.names.read().len()
    }

    pub(crate) fn all(&self) -> Vec<(Key, u8)> {
        self.names.read().clone()
    }

    /// `all`, listing at least the SKUs up to `id`. A SKU's declaration is
    /// in the ledger a moment before its name is listed (`init` runs
    /// first), so a reader that saw the event waits for its creator.
    ///
    /// Locking: the name list; when `id` is not listed yet, the creation
    /// mutex, then the name list again.
    pub(crate) fn all_covering(&self, id: Option<SkuId>) -> Vec<(Key, u8)> {
        let names = self.all();
        match id {
            Some(id) if id.0 as usize >= names.len() => {
                let _created = self.create.lock();
                self.all()
            }
            _ => names,
        }
    }

    /// Returns the SKU, creating it with `spec` when new. `init` runs before
    /// the id becomes visible, so readers never see an id without its stock.
    pub(crate) fn get_or_create(
        &self,
        sku: &str,
        spec: SkuSpec,
        init: impl FnOnce(SkuId, u8),
    ) -> crate::Result<((SkuId, u8), bool)> {
        if let Some(found) = self.get(sku) {
            return Ok((found, false));
        }
        crate::ids::check_id("sku", sku)?;
        if spec.unit_scale > MAX_SCALE {
            return Err(crate::Error::arg(
                "unit_scale",
                format!("must be 0..={MAX_SCALE}"),
            ));
        }
        let _g = self.create.lock();
        if let Some(found) = self.get(sku) {
            return Ok((found, false));
        }
        let id = self.create_locked(sku, spec.unit_scale, init)?;
        Ok(((id, spec.unit_scale), true))
    }

    /// Creates `sku` (checked, not known), the creation mutex held.
    fn create_locked(
        &self,
        sku: &str,
        scale: u8,
        init: impl FnOnce(SkuId, u8),
    ) -> crate::Result<SkuId> {
        // The creation mutex serializes creators, so the length read here is
        // still the next id when we push. `init` locks a stock stripe, and
        // stripe holders read `names`: take the write lock only after it.
        let next = self.names.read().len();
        if next >= MAX_SKUS {
            return Err(crate::Error::arg("sku", "too many SKUs"));
        }
        let id = SkuId(next as u32);
        init(id, scale);
        let key = Key::new(sku);
        self.names.write().push((key.clone(), scale));
        let mut delta = self.delta.lock();
        delta.map.insert(key, (id, scale));
        if delta.map.len() > 64 + self.table.load().0.len() / 8 {
            self.rebuild(&mut delta);
        }
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A SKU is found from the moment its creation returns, whatever
    /// rebuilds of the lock-free table happen meanwhile in other threads.
    #[test]
    fn created_skus_are_always_found_across_rebuilds() {
        let reg = SkuRegistry::new();
        let created = AtomicUsize::new(0);
        let names: Vec<String> = (0..20_000).map(|i| format!("sku-{i}")).collect();
        std::thread::scope(|s| {
            s.spawn(|| {
                for (i, n) in names.iter().enumerate() {
                    let ((id, _), new) =
                        reg.get_or_create(n, SkuSpec::default(), |_, _| {}).unwrap();
                    assert!(new);
                    assert_eq!(id.0 as usize, i);
                    created.store(i + 1, Ordering::Release);
                }
            });
            for _ in 0..2 {
                s.spawn(|| {
                    let mut k = 0usize;
                    while created.load(Ordering::Acquire) < names.len() {
                        let upto = created.load(Ordering::Acquire);
                        if upto == 0 {
                            continue;
                        }
                        k = (k + 7919) % upto;
                        assert_eq!(reg.get(&names[k]).map(|x| x.0.0 as usize), Some(k));
                    }
                });
            }
        });
        for (i, n) in names.iter().enumerate() {
            assert_eq!(reg.get(n), Some((SkuId(i as u32), 0)));
        }
        assert_eq!(reg.get("sku-missing"), None);
        assert_eq!(reg.get(""), None);
    }

    /// A bulk load looks each new SKU up again at once (one receipt per
    /// location): rebuilds must stay logarithmic, not one per few SKUs.
    #[test]
    fn a_bulk_load_rebuilds_the_table_a_logarithmic_number_of_times() {
        let reg = SkuRegistry::new();
        let n = 100_000;
        for i in 0..n {
            let name = format!("sku-{i}");
            reg.get_or_create(&name, SkuSpec::default(), |_, _| {})
                .unwrap();
            for _ in 0..9 {
                assert!(reg.get(&name).is_some());
            }
        }
        let rebuilds = reg.rebuilds.load(Ordering::Relaxed);
        assert!(rebuilds < 200, "{rebuilds} rebuilds for {n} SKUs");
        for i in (0..n).step_by(997) {
            assert_eq!(reg.get(&format!("sku-{i}")).map(|x| x.0.0), Some(i as u32));
        }
    }

    /// Many SKUs at once: repeats and known SKUs are skipped, ids follow
    /// first appearance, `init` runs once per new SKU, and a creator racing
    /// on the same names gets the same ids.
    #[test]
    fn create_many_creates_each_new_sku_once_with_consecutive_ids() {
        let reg = SkuRegistry::new();
        reg.get_or_create("known", SkuSpec::default(), |_, _| {})
            .unwrap();
        let names: Vec<String> = (0..5_000).map(|i| format!("sku-{i}")).collect();
        let mut batch: Vec<&str> = names.iter().map(String::as_str).collect();
        batch.extend(names.iter().step_by(3).map(String::as_str));
        batch.push("known");
        let mut inits = Vec::new();
        let racer_ids = std::thread::scope(|s| {
            let racer = s.spawn(|| {
                names
                    .iter()
                    .rev()
                    .step_by(101)
                    .map(|n| {
                        let ((id, _), _) =
                            reg.get_or_create(n, SkuSpec::default(), |_, _| {}).unwrap();
                        (n.clone(), id)
                    })
                    .collect::<Vec<_>>()
            });
            let created = reg
                .create_many(&batch, 0, |id, _, name| inits.push((id, name.to_string())))
                .unwrap();
            assert!(created <= 5_000 && created > 4_900, "{created}");
            racer.join().unwrap()
        });
        let mut once: Vec<&str> = inits.iter().map(|(_, n)| n.as_str()).collect();
        once.sort_unstable();
        once.dedup();
        assert_eq!(once.len(), inits.len(), "each SKU initialised once");
        for w in inits.windows(2) {
            assert!(w[1].0.0 > w[0].0.0, "ids in creation order");
        }
        for (name, id) in &racer_ids {
            assert_eq!(reg.get(name), Some((*id, 0)), "{name}");
        }
        for (id, name) in &inits {
            assert_eq!(reg.get(name), Some((*id, 0)), "{name}");
        }
        assert_eq!(reg.len(), 5_001);
        let all = reg.all();
        for (i, (name, _)) in all.iter().enumerate() {
            assert_eq!(reg.get(name).map(|x| x.0.0 as usize), Some(i));
        }
    }

    /// A few new SKUs into a large catalogue go through the delta (the
    /// table is not copied); a batch of mostly repeats ends in a table
    /// sized for what it holds.
    #[test]
    fn create_many_copies_the_table_only_for_many_new_skus() {
        let reg = SkuRegistry::new();
        let names: Vec<String> = (0..4_000).map(|i| format!("sku-{i}")).collect();
        let all: Vec<&str> = names.iter().map(String::as_str).collect();
        assert_eq!(reg.create_many(&all, 0, |_, _, _| {}).unwrap(), 4_000);
        let rebuilds = reg.rebuilds.load(Ordering::Relaxed);
        let few = ["new-1", "sku-7", "new-2", "new-1"];
        assert_eq!(reg.create_many(&few, 2, |_, _, _| {}).unwrap(), 2);
        assert_eq!(reg.rebuilds.load(Ordering::Relaxed), rebuilds);
        assert_eq!(reg.get("new-2"), Some((SkuId(4_001), 2)));
        assert_eq!(reg.get("sku-7"), Some((SkuId(7), 0)));

        let reg = SkuRegistry::new();
        let repeats: Vec<&str> = (0..40_000).map(|i| all[i % 100]).collect();
        assert_eq!(reg.create_many(&repeats, 0, |_, _, _| {}).unwrap(), 100);
        let table = reg.table.load();
        assert!(
            table.0.capacity() < 4 * table.0.len(),
            "{} slots",
            table.0.capacity()
        );
        for (i, name) in all[..100].iter().enumerate() {
            assert_eq!(reg.get(name), Some((SkuId(i as u32), 0)));
        }
    }
}
