//! Where the chain is: flags override environment variables, which
//! override the config file (`--config`, `$AVPN_CONFIG`, or
//! `~/.config/avpn/config.toml`).

use std::path::{Path, PathBuf};

use clap::Args;
use serde::{Deserialize, Serialize};

/// Chain settings as flags (each also read from its environment variable).
#[derive(Args, Clone, Debug, Default)]
pub struct ChainArgs {
    /// Config file [default: ~/.config/avpn/config.toml].
    #[arg(long, global = true, env = "AVPN_CONFIG")]
    pub config: Option<PathBuf>,
    /// Chain id, e.g. akashnet-2.
    #[arg(long, global = true, env = "AVPN_CHAIN_ID")]
    pub chain_id: Option<String>,
    /// CometBFT RPC of a node, e.g. http://127.0.0.1:26657.
    #[arg(long, global = true, env = "AVPN_RPC")]
    pub rpc: Option<String>,
    /// Address of the network-registry contract.
    #[arg(long, global = true, env = "AVPN_REGISTRY")]
    pub registry: Option<String>,
    /// Address of the provider-directory contract.
    #[arg(long, global = true, env = "AVPN_DIRECTORY")]
    pub directory: Option<String>,
    /// Gas price for fees, e.g. 0.025uakt.
    #[arg(long, global = true, env = "AVPN_GAS_PRICES")]
    pub gas_prices: Option<String>,
    /// Bech32 account prefix [default: akash].
    #[arg(long, global = true, env = "AVPN_PREFIX")]
    pub prefix: Option<String>,
}

/// The config file's contents; every field optional.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Chain id.
    pub chain_id: Option<String>,
    /// RPC URL.
    pub rpc: Option<String>,
    /// network-registry address.
    pub registry: Option<String>,
    /// provider-directory address.
    pub directory: Option<String>,
    /// Gas price, e.g. `0.025uakt`.
    pub gas_prices: Option<String>,
    /// Bech32 prefix.
    pub prefix: Option<String>,
}

/// Settings resolved from every source.
#[derive(Clone, Debug, PartialEq)]
pub struct Resolved {
    /// Chain id.
    pub chain_id: String,
    /// RPC URL.
    pub rpc: String,
    /// network-registry address.
    pub registry: String,
    /// provider-directory address, when known.
    pub directory: Option<String>,
    /// Gas price, when set (otherwise asked from the chain).
    pub gas_prices: Option<String>,
    /// Bech32 prefix.
    pub prefix: String,
}

/// A setting could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A required setting has no value anywhere.
    #[error("{0} is not set: pass --{1}, set AVPN_{2}, or run `avpn config init`")]
    Missing(&'static str, &'static str, &'static str),
    /// The config file is unreadable or malformed.
    #[error("config file {0}: {1}")]
    File(PathBuf, String),
}

/// The default config file path.
pub fn default_path() -> Option<PathBuf> {
    std::env::var_os("HOME").map(|h| Path::new(&h).join(".config/avpn/config.toml"))
}

/// Reads a config file; a missing default file is an empty config.
pub fn read_file(path: &Path, explicit: bool) -> Result<FileConfig, ConfigError> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            toml::from_str(&text).map_err(|e| ConfigError::File(path.into(), e.to_string()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {
            Ok(FileConfig::default())
        }
        Err(e) => Err(ConfigError::File(path.into(), e.to_string())),
    }
}

impl ChainArgs {
    /// Resolves flags/env over the config file.
    pub fn resolve(&self) -> Result<Resolved, ConfigError> {
        let file = match (&self.config, default_path()) {
            (Some(p), _) => read_file(p, true)?,
            (None, Some(p)) => read_file(&p, false)?,
            (None, None) => FileConfig::default(),
        };
        let pick = |flag: &Option<String>, file: &Option<String>| flag.clone().or(file.clone());
        Ok(Resolved {
            chain_id: pick(&self.chain_id, &file.chain_id)
                .ok_or(ConfigError::Missing("chain id", "chain-id", "CHAIN_ID"))?,
            rpc: pick(&self.rpc, &file.rpc).ok_or(ConfigError::Missing("RPC", "rpc", "RPC"))?,
            registry: pick(&self.registry, &file.registry).ok_or(ConfigError::Missing(
                "registry address",
                "registry",
                "REGISTRY",
            ))?,
            directory: pick(&self.directory, &file.directory),
            gas_prices: pick(&self.gas_prices, &file.gas_prices),
            prefix: pick(&self.prefix, &file.prefix).unwrap_or_else(|| "akash".into()),
        })
    }
}
