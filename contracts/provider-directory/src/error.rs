//! Typed errors of the provider directory.

use std::fmt;

use cosmwasm_std::{StdError, Timestamp};
use thiserror::Error;

/// Every way a message to the provider directory can be rejected.
#[derive(Error, Debug)]
pub enum ContractError {
    #[error("{0}")]
    Std(#[from] StdError),

    #[error("unauthorized: only the admin may do this")]
    Unauthorized,

    #[error("provider {0} is already registered")]
    AlreadyRegistered(String),

    #[error("provider {0} is not registered")]
    NotRegistered(String),

    #[error("overlay key must be {expected} bytes (ed25519), got {got}")]
    InvalidKeyLength { expected: usize, got: usize },

    #[error("overlay key is already used by provider {0}")]
    KeyInUse(String),

    #[error(
        "invalid key proof: the signature must be the overlay key's ed25519 signature over \
         avpn-provider-key/v1/{{chain_id}}/{{contract}}/{{sender}}/{{hex key}} for this chain, \
         contract and sender"
    )]
    InvalidKeyProof,

    #[error("no provider holds this overlay key")]
    UnknownKey,

    #[error("new key equals the current overlay key")]
    KeyUnchanged,

    #[error("update changes nothing: give endpoints, region or relay")]
    EmptyUpdate,

    #[error("at least one endpoint is required")]
    NoEndpoints,

    #[error("too many endpoints: {got} (max {max})")]
    TooManyEndpoints { got: usize, max: u32 },

    #[error("invalid endpoint {0:?}: expected ip:port (IPv6 as [addr]:port)")]
    InvalidEndpoint(String),

    #[error("endpoint {endpoint} is not usable: {reason}")]
    UnusableEndpoint {
        endpoint: String,
        reason: UnusableReason,
    },

    #[error(
        "endpoint {endpoint} is in the {range} range; private endpoints need the \
         allow_private_endpoints param"
    )]
    PrivateEndpoint {
        endpoint: String,
        range: PrivateRange,
    },

    #[error("duplicate endpoint {0}")]
    DuplicateEndpoint(String),

    #[error("region must be 1..={max} characters of [A-Za-z0-9._-], got {got:?}")]
    InvalidRegion { got: String, max: u32 },

    #[error("overlap deadline {until} must be after now ({now})")]
    OverlapInPast { until: Timestamp, now: Timestamp },

    #[error("overlap deadline {until} is later than the allowed maximum {max}")]
    OverlapTooLong { until: Timestamp, max: Timestamp },

    #[error("invalid params: {0}")]
    InvalidParams(&'static str),

    #[error("cannot migrate from contract {name} version {version}")]
    CannotMigrate { name: String, version: String },
}

/// Why peers could never reach an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnusableReason {
    PortZero,
    Unspecified,
    Loopback,
    LinkLocal,
    Multicast,
    Broadcast,
}

impl fmt::Display for UnusableReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UnusableReason::PortZero => "port 0",
            UnusableReason::Unspecified => "unspecified address",
            UnusableReason::Loopback => "loopback address",
            UnusableReason::LinkLocal => "link-local address (169.254.0.0/16, fe80::/10)",
            UnusableReason::Multicast => "multicast address",
            UnusableReason::Broadcast => "broadcast address",
        })
    }
}

/// A private (non-global) address range, refused unless
/// `allow_private_endpoints` is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrivateRange {
    /// 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16.
    Rfc1918,
    /// 100.64.0.0/10.
    CarrierGradeNat,
    /// 198.18.0.0/15.
    Benchmarking,
    /// fc00::/7.
    UniqueLocal,
}

impl fmt::Display for PrivateRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PrivateRange::Rfc1918 => "RFC 1918 private (10/8, 172.16/12, 192.168/16)",
            PrivateRange::CarrierGradeNat => "carrier-grade NAT (100.64.0.0/10)",
            PrivateRange::Benchmarking => "benchmarking (198.18.0.0/15)",
            PrivateRange::UniqueLocal => "IPv6 unique local (fc00::/7)",
        })
    }
}
