//! Typed errors of the provider directory.

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

    #[error("endpoint {0} is not usable: port 0, unspecified, multicast or broadcast address")]
    UnusableEndpoint(String),

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
