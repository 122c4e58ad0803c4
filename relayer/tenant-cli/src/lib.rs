//! `avpn`, the tenant tool: networks, members, providers, git-ops
//! manifests, invitations, policy explain and a read-only web console.
//!
//! - [`config`] resolves chain id, RPC and contract addresses from flags,
//!   environment and a config file, and writes that file.
//! - [`chain`] queries the registry (paginating to the end) and sends txs:
//!   signed here (gas simulated, fees at the configured or the node's
//!   minimum gas price), or with `--generate-only` printed as `akash tx
//!   wasm execute` commands and the unsigned tx JSON.
//! - [`parse`] reads human input: durations (`72h`), times
//!   (`2026-12-24T18:00Z`, `now+72h`) and lease ids
//!   (`owner/dseq/gseq/oseq/provider[/bseq]` or one flag per field).
//! - [`output`] prints tables for people and JSON (`-o json`) for programs.
//! - [`commands`] holds the subcommands: `network create|list|show|update|close`,
//!   `member add|rebind|remove|list`, `provider authorize|revoke|list`,
//!   `config init|show`.
//! - [`explain`] answers why a flow between two members is allowed or not.
//! - [`invite`] makes one-line invitation tokens and claims them.
//! - [`console`] serves a read-only, live web page of a viewer's networks.
//! - [`manifest`] is git-ops: `plan`, `apply` and `export` of network
//!   manifest files (YAML or JSON).
//!
//! Every failure is a typed error; the binary prints `error: <message and
//! causes>` to standard error and exits with 1.

pub mod chain;
pub mod commands;
pub mod config;
pub mod console;
pub mod explain;
pub mod invite;
pub mod manifest;
pub mod output;
pub mod parse;
