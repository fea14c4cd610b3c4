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
