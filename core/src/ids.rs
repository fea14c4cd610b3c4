//! Interned ids. Hosts name things with strings; the engine works with dense
//! `u32` ids so that the hot path compares integers and allocates nothing.

use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub(crate) u32);
        impl $name {
            /// The dense index behind the id.
            pub fn index(self) -> u32 {
                self.0
            }
        }
    };
}

id_type!(
    /// An interned SKU id; names come back with `Engine::sku_name`.
    SkuId
);
id_type!(
    /// An interned location id; names come back with `Engine::location_name`.
    LocationId
);
id_type!(
    /// An interned channel id.
    ChannelId
);

impl LocationId {
    /// Not a location: the place of units held against a channel's pool
    /// (in ledger folds, and inside the engine's hold records).
    pub const POOL: LocationId = LocationId(u32::MAX);
}

/// Host ids stored in records: short ones (<= 23 bytes) are kept inline.
pub type Key = smol_str::SmolStr;

/// Longest host id (hold, order, transfer, SKU, location, channel) accepted.
pub const MAX_ID_LEN: usize = 256;

pub(crate) fn check_id(field: &'static str, id: &str) -> crate::Result<()> {
    if id.is_empty() {
        return Err(crate::Error::arg(field, "must not be empty"));
    }
    if id.len() > MAX_ID_LEN {
        return Err(crate::Error::arg(
            field,
            format!("longer than {MAX_ID_LEN} bytes"),
        ));
    }
    Ok(())
}

pub(crate) type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// A hasher whose output never changes between releases (digests kept in
/// records and snapshots): each 8-byte word is mixed in with the splitmix64
/// finalizer.
#[derive(Clone, Copy, Debug)]
pub(crate) struct StableHasher(pub u64);

impl Default for StableHasher {
    fn default() -> Self {
        StableHasher(0x756e_6973_746f_636b)
    }
}

impl StableHasher {
    #[inline]
    pub(crate) fn mix(&mut self, x: u64) {
        let mut z = (self.0 ^ x).wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        self.0 = z ^ (z >> 31);
    }
}

/// The 128-bit product of `a` and `b`, its halves xored: one multiply that
/// mixes every bit of both into the result (wyhash's mixing step).
#[inline]
pub(crate) fn fold_mul(a: u64, b: u64) -> u64 {
    let p = a as u128 * b as u128;
    p as u64 ^ (p >> 64) as u64
}

impl std::hash::Hasher for StableHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut w = [0u8; 8];
            w[..chunk.len()].copy_from_slice(chunk);
            self.mix(u64::from_le_bytes(w));
        }
        self.mix(bytes.len() as u64);
    }
    fn write_u8(&mut self, i: u8) {
        self.mix(i as u64);
    }
    fn write_u32(&mut self, i: u32) {
        self.mix(i as u64);
    }
    fn write_u64(&mut self, i: u64) {
        self.mix(i);
    }
    fn write_usize(&mut self, i: usize) {
        self.mix(i as u64);
    }
}
