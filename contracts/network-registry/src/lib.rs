//! Network registry: the on-chain source of truth of avpn networks.
//!
//! A tenant creates networks (IPv4 CIDR, optional IPv6 prefix, tag
//! vocabulary, default firewall action, optional time box), binds members
//! to Akash leases, sets per-member firewall policies, applies whole
//! manifests, authorizes providers and invites other tenants, who then add
//! their own leases under the tags they were granted. Every change bumps the
//! network's revision and emits a `wasm-<action>` event relayers follow.
//!
//! Modules: [`contract`] dispatches; `network`, `member`, `manifest`,
//! `providers`, `invitation`, `participant` and `admin` execute; `service`
//! keeps service addresses; `ipam`
//! allocates addresses without scans (see its docs); `policy` and
//! `validate` check inputs; [`state`] documents the storage layout.

mod admin;
pub mod contract;
pub mod error;
mod events;
mod invitation;
mod ipam;
mod manifest;
mod member;
mod migrate;
pub mod msg;
mod network;
mod participant;
mod policy;
mod providers;
mod purge;
mod query;
mod service;
pub mod state;
mod tags;
mod validate;

pub use crate::error::ContractError;
pub use crate::invitation::claim_bytes;

#[cfg(test)]
mod tests;
