//! Storage layout.

use std::net::SocketAddr;

use cosmwasm_std::{Addr, Binary, Timestamp};
use cw_storage_plus::{Item, Map};
use serde::{Deserialize, Serialize};

use crate::msg::Params;

/// Size of an ed25519 public key.
pub const KEY_LEN: usize = 32;

pub const ADMIN: Item<Addr> = Item::new("admin");
pub const PARAMS: Item<Params> = Item::new("params");
/// Provider address → record.
pub const PROVIDERS: Map<&Addr, Provider> = Map::new("providers");
/// Overlay key (current or previous) → the provider holding it; makes keys
/// unique across providers so a key always names exactly one provider.
pub const KEY_OWNERS: Map<&[u8], Addr> = Map::new("key_owners");

/// A 32-byte ed25519 public key; only built by [`OverlayKey::parse`].
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(transparent)]
pub struct OverlayKey(Binary);

impl OverlayKey {
    /// Accepts exactly [`KEY_LEN`] bytes.
    pub fn parse(raw: &Binary) -> Result<Self, crate::ContractError> {
        if raw.len() == KEY_LEN {
            Ok(OverlayKey(raw.clone()))
        } else {
            Err(crate::ContractError::InvalidKeyLength {
                expected: KEY_LEN,
                got: raw.len(),
            })
        }
    }

    pub fn as_slice(&self) -> &[u8] {
        self.0.as_slice()
    }

    pub fn to_binary(&self) -> Binary {
        self.0.clone()
    }
}

/// A key rotated out and the time until which it stays valid.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct RetiredKey {
    pub key: OverlayKey,
    pub valid_until: Timestamp,
}

/// A provider's stored record (validated types).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Provider {
    pub overlay_key: OverlayKey,
    pub previous_key: Option<RetiredKey>,
    pub endpoints: Vec<SocketAddr>,
    pub region: Option<String>,
    pub relay: bool,
    pub registered_at: Timestamp,
    pub updated_at: Timestamp,
}
