//! Provider directory: the on-chain record of every avpn provider's relayer
//! identity (ed25519 overlay key, public endpoints, region, relay capability).
//!
//! Each record is written only by the provider's own account; key rotation
//! keeps the previous key valid until a deadline the provider states, so
//! peers can reconnect without an outage. Governance (the admin) sets limits.

mod admin;
pub mod contract;
pub mod error;
pub mod msg;
mod provider;
mod query;
pub mod state;
mod validate;

pub use crate::error::ContractError;

#[cfg(test)]
mod tests;
