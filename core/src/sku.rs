//! SKUs: the sellable items, and the registry that interns their ids.

use crate::ids::{Key, SkuId};
use crate::qty::MAX_SCALE;
use dashmap::DashMap;
use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};

/// How a SKU is measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SkuSpec {
    /// Decimals a quantity of this SKU may have (0 = whole units, up to 6).
    pub unit_scale: u8,
}

/// Interns SKU ids. Reads are lock-free apart from a DashMap shard read lock;
/// creation is serialized by one mutex (it is rare).
pub(crate) struct SkuRegistry {
    index: DashMap<Key, (SkuId, u8), foldhash::fast::RandomState>,
    names: RwLock<Vec<(Key, u8)>>,
    create: Mutex<()>,
}

impl SkuRegistry {
    pub(crate) fn new() -> Self {
        SkuRegistry {
            index: DashMap::with_hasher(foldhash::fast::RandomState::default()),
            names: RwLock::new(Vec::new()),
            create: Mutex::new(()),
        }
    }

    /// The id and unit scale of a known SKU.
    #[inline]
    pub(crate) fn get(&self, sku: &str) -> Option<(SkuId, u8)> {
        self.index.get(sku).map(|e| *e.value())
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
        // The creation mutex serializes creators, so the length read here is
        // still the next id when we push. `init` locks a stock stripe, and
        // stripe holders read `names`: take the write lock only after it.
        let next = self.names.read().len();
        let id = SkuId(u32::try_from(next).map_err(|_| crate::Error::arg("sku", "too many SKUs"))?);
        init(id, spec.unit_scale);
        self.names.write().push((Key::new(sku), spec.unit_scale));
        self.index.insert(Key::new(sku), (id, spec.unit_scale));
        Ok(((id, spec.unit_scale), true))
    }
}
