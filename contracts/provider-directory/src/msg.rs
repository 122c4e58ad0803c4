//! Messages of the provider directory (JSON, snake_case).

use cosmwasm_schema::{QueryResponses, cw_serde};
use cosmwasm_std::{Addr, Binary, Timestamp};

/// Governance-set limits.
#[cw_serde]
pub struct Params {
    /// Maximum number of endpoints per provider.
    pub max_endpoints: u32,
    /// Maximum length of the region label.
    pub max_region_len: u32,
    /// Longest overlap (seconds from now) a rotated-out key may stay valid.
    pub max_rotation_overlap_secs: u64,
    /// Cap on `limit` in paginated queries.
    pub max_query_limit: u32,
    /// Accept endpoints in private ranges (RFC 1918, 100.64/10, 198.18/15,
    /// fc00::/7); for test chains. Absent in params stored before 0.2.0.
    #[serde(default)]
    pub allow_private_endpoints: bool,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            max_endpoints: 8,
            max_region_len: 64,
            max_rotation_overlap_secs: 7 * 24 * 3600,
            max_query_limit: 100,
            allow_private_endpoints: false,
        }
    }
}

#[cw_serde]
pub struct InstantiateMsg {
    /// Who may change params and the admin; defaults to the sender
    /// (on chain: the gov module account).
    pub admin: Option<String>,
    /// Defaults to [`Params::default`].
    pub params: Option<Params>,
}

/// Sent by the provider's own account: `info.sender` is the provider.
/// A key is accepted only with its proof of possession, a signature by the
/// key naming this chain, contract and sender (`key_proof_bytes` in the crate).
#[cw_serde]
pub enum ExecuteMsg {
    /// Creates the sender's record.
    Register {
        /// Raw 32-byte ed25519 public key of the relayer (base64 in JSON).
        overlay_key: Binary,
        /// 64-byte ed25519 signature by `overlay_key` over
        /// `avpn-provider-key/v1/{chain_id}/{contract}/{sender}/{hex(overlay_key)}`.
        signature: Binary,
        /// Public QUIC endpoints, `"ip:port"` (IPv6 as `"[addr]:port"`); no
        /// loopback, link-local, unspecified, multicast or broadcast address,
        /// no port 0, private ranges only with `allow_private_endpoints`.
        endpoints: Vec<String>,
        /// Free label like `"eu-central"`.
        region: Option<String>,
        /// Whether the relayer forwards traffic for third parties.
        relay: bool,
    },
    /// Changes the given fields of the sender's record; `region: ""` clears it.
    Update {
        endpoints: Option<Vec<String>>,
        region: Option<String>,
        relay: Option<bool>,
    },
    /// Replaces the overlay key; the old one stays valid until `overlap_until`
    /// (after now, at most `max_rotation_overlap_secs` ahead). A key rotated
    /// out earlier and still in its overlap stops being valid.
    RotateKey {
        new_key: Binary,
        /// Signature by `new_key`, as for `Register`.
        signature: Binary,
        overlap_until: Timestamp,
    },
    /// Removes the sender's record and frees its keys.
    Deregister {},
    /// Admin only.
    UpdateParams { params: Params },
    /// Admin only.
    UpdateAdmin { admin: String },
}

#[cw_serde]
pub struct MigrateMsg {}

#[cw_serde]
#[derive(QueryResponses)]
pub enum QueryMsg {
    #[returns(Params)]
    Params {},
    #[returns(AdminResponse)]
    Admin {},
    /// Fails when the address has no record.
    #[returns(ProviderRecord)]
    Provider { address: String },
    /// The provider whose current or still-listed previous key this is.
    #[returns(ProviderRecord)]
    ProviderByKey { key: Binary },
    /// Ordered by address.
    #[returns(ProvidersResponse)]
    Providers {
        start_after: Option<String>,
        limit: Option<u32>,
    },
}

#[cw_serde]
pub struct AdminResponse {
    pub admin: Addr,
}

/// A key rotated out, valid until `valid_until`.
#[cw_serde]
pub struct PreviousKey {
    pub key: Binary,
    pub valid_until: Timestamp,
}

/// A provider's directory record.
#[cw_serde]
pub struct ProviderRecord {
    pub address: Addr,
    pub overlay_key: Binary,
    /// Present only while still valid at the queried block time.
    pub previous_key: Option<PreviousKey>,
    /// Canonical `ip:port` strings.
    pub endpoints: Vec<String>,
    pub region: Option<String>,
    pub relay: bool,
    pub registered_at: Timestamp,
    pub updated_at: Timestamp,
}

#[cw_serde]
pub struct ProvidersResponse {
    pub providers: Vec<ProviderRecord>,
}
