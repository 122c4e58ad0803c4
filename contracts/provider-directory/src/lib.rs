//! Provider directory: the on-chain record of every avpn provider's relayer
//! identity (ed25519 overlay key, public endpoints, region, relay capability).
//!
//! Each record is written only by the provider's own account, and a key is
//! accepted only with a signature proving possession of it; key rotation
//! keeps the previous key valid until a deadline the provider states, so
//! peers can reconnect without an outage. Governance (the admin) sets limits.

mod admin;
pub mod contract;
pub mod error;
pub mod msg;
mod proof;
mod provider;
mod query;
pub mod state;
mod validate;

pub use crate::error::ContractError;
pub use crate::proof::key_proof_bytes;

#[cfg(test)]
mod tests;
