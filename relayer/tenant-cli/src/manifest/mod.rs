//! Git-ops manifests: a network described in a YAML or JSON file
//! ([`file`](mod@file)), validated and mapped to the contract's `Manifest`
//! ([`convert`]), diffed against the chain ([`plan`], a pure function,
//! shown by [`render`]), applied in one `apply_manifest` tx ([`apply`]) and
//! exported back ([`export`], written by [`yaml`]) so that a plan of an
//! export shows no changes.
//!
//! The contract's `Manifest` does not carry the network's CIDRs or time
//! window: the file's `cidr`/`cidr6` are used only to create the network
//! (and must match afterwards); time windows stay with `update_network`.

pub mod apply;
pub mod convert;
pub mod error;
pub mod export;
pub mod file;
pub mod plan;
pub mod remote;
pub mod render;
pub mod yaml;

use crate::chain::{Chain, ChainError};
use crate::config::{ChainArgs, ConfigError};

pub use apply::{ApplyArgs, PlanArgs, run_apply, run_plan};
pub use export::{ExportArgs, run_export};

/// Failure of `avpn plan`, `apply` or `export`.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// Settings missing or unreadable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The chain failed or refused.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// The manifest is unreadable or invalid.
    #[error(transparent)]
    Manifest(#[from] error::ManifestError),
    /// The contract would refuse the manifest.
    #[error(transparent)]
    Conflicts(#[from] plan::Conflicts),
    /// The network named by id is closed.
    #[error("network {0} is closed")]
    Closed(u64),
    /// No open network of that name.
    #[error("no open network named {name:?} owned by {owner}")]
    NotFound {
        /// Name.
        name: String,
        /// Owner searched.
        owner: String,
    },
    /// Apply without `--yes` and without a terminal to ask on.
    #[error(
        "refusing to apply without confirmation: standard input is not a terminal; review `avpn plan` and pass --yes"
    )]
    NoTerminal,
    /// The user did not confirm.
    #[error("apply cancelled: nothing was sent")]
    Cancelled,
    /// `create_network` succeeded but its event had no id.
    #[error("tx {0} created the network but emitted no network_id")]
    NoNetworkId(String),
    /// Terminal or output I/O.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// JSON output.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
}

/// Connects to the chain named by the flags, environment and config file.
async fn connect(args: &ChainArgs) -> Result<Chain, CommandError> {
    Ok(Chain::connect(args.resolve()?).await?)
}
