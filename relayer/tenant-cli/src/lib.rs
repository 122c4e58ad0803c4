//! `avpn`, the tenant tool: networks, members, providers, git-ops
//! manifests, invitations, policy explain and a read-only web console.
//!
//! - [`config`] resolves chain id, RPC and contract addresses from flags,
//!   environment and a config file.
//! - [`chain`] queries the registry and sends (or only generates) txs.
//! - [`explain`] answers why a flow between two members is allowed or not.

pub mod chain;
pub mod config;
pub mod console;
pub mod explain;
