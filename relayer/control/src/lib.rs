//! Control plane of the avpn relayer: everything between the chain and the
//! data plane.
//!
//! ```text
//! watcher ──► sync (query + desired + lease) ──► reconcile ──► DataPlane
//! ```
//!
//! - [`rpc`] connects to a CometBFT node (HTTP for queries and txs,
//!   WebSocket for events) and checks the chain id.
//! - [`query`] runs wasm smart queries through `abci_query`, paginated.
//! - [`tx`] builds, simulates, signs and broadcasts txs.
//! - [`watcher`] turns the node's event stream into [`watcher::Trigger`]s,
//!   reconnecting with backoff and asking for full resyncs so nothing is missed.
//! - [`lease`] verifies leases against the Akash market (or not, by choice).
//! - [`view`] reads the registry and directory records of the served
//!   networks (at one height), [`desired`] turns them into an
//!   [`avpn_model::DesiredState`].
//! - [`attachments`] reads how local leases are attached.
//! - [`reconcile`] diffs applied against desired state and drives the
//!   [`avpn_model::DataPlane`].
//! - [`controller`] ties these together into the level-triggered loop.
//! - [`checkpoint`], [`metrics`] and [`status`] make it restartable and
//!   observable.

pub mod attachments;
pub mod checkpoint;
pub mod controller;
pub mod desired;
pub mod lease;
pub mod metrics;
pub mod query;
pub mod reconcile;
pub mod rpc;
pub mod status;
pub mod tx;
pub mod view;
pub mod watcher;
