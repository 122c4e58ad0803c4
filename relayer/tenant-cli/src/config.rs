//! Where the chain is: flags override environment variables, which
//! override the config file (`--config`, `$AVPN_CONFIG`, or
//! `~/.config/avpn/config.toml`).

use std::path::{Path, PathBuf};

use clap::Args;
use serde::{Deserialize, Serialize};

/// Chain settings as flags (each also read from its environment variable).
#[derive(Args, Clone, Debug, Default)]
#[command(next_help_heading = "Chain")]
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
    /// No path for the config file ($HOME unset and none given).
    #[error("no config file path: pass --path or --config (HOME is not set)")]
    NoPath,
    /// The config file is unreadable or malformed.
    #[error("config file {0}: {1}")]
    File(PathBuf, String),
}

/// Bech32 prefix of Akash accounts.
pub const DEFAULT_PREFIX: &str = "akash";

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

/// Where a setting's value came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// A command-line flag.
    Flag,
    /// An environment variable.
    Env(&'static str),
    /// The config file.
    File(PathBuf),
    /// The built-in default.
    Default,
    /// Nowhere.
    Unset,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::Flag => write!(f, "flag"),
            Origin::Env(var) => write!(f, "env {var}"),
            Origin::File(path) => write!(f, "file {}", path.display()),
            Origin::Default => write!(f, "default"),
            Origin::Unset => write!(f, "unset"),
        }
    }
}

/// One setting, its value and origin (for `avpn config show`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Setting {
    /// Name as in the config file.
    pub name: &'static str,
    /// Value, if any.
    pub value: Option<String>,
    /// Where the value came from.
    pub origin: Origin,
}

impl ChainArgs {
    /// The config file in effect: its path (when one is known) and contents.
    pub fn file(&self) -> Result<(Option<PathBuf>, FileConfig), ConfigError> {
        match (&self.config, default_path()) {
            (Some(p), _) => Ok((Some(p.clone()), read_file(p, true)?)),
            (None, Some(p)) => {
                let file = read_file(&p, false)?;
                Ok((Some(p), file))
            }
            (None, None) => Ok((None, FileConfig::default())),
        }
    }

    /// Every setting with its origin. `from_env` names the flags whose
    /// value came from their environment variable (clap knows, see
    /// `ArgMatches::value_source`).
    pub fn explain(&self, from_env: &[&str]) -> Result<Vec<Setting>, ConfigError> {
        let (path, file) = self.file()?;
        let pick = |name: &'static str,
                    env: &'static str,
                    flag: &Option<String>,
                    in_file: &Option<String>| {
            let (value, origin) = match (flag, in_file) {
                (Some(v), _) if from_env.contains(&name) => (Some(v.clone()), Origin::Env(env)),
                (Some(v), _) => (Some(v.clone()), Origin::Flag),
                (None, Some(v)) => (
                    Some(v.clone()),
                    Origin::File(path.clone().unwrap_or_default()),
                ),
                (None, None) => (None, Origin::Unset),
            };
            Setting {
                name,
                value,
                origin,
            }
        };
        let mut out = vec![
            pick("chain_id", "AVPN_CHAIN_ID", &self.chain_id, &file.chain_id),
            pick("rpc", "AVPN_RPC", &self.rpc, &file.rpc),
            pick("registry", "AVPN_REGISTRY", &self.registry, &file.registry),
            pick(
                "directory",
                "AVPN_DIRECTORY",
                &self.directory,
                &file.directory,
            ),
            pick(
                "gas_prices",
                "AVPN_GAS_PRICES",
                &self.gas_prices,
                &file.gas_prices,
            ),
            pick("prefix", "AVPN_PREFIX", &self.prefix, &file.prefix),
        ];
        if let Some(prefix) = out
            .iter_mut()
            .find(|s| s.name == "prefix" && s.value.is_none())
        {
            prefix.value = Some(DEFAULT_PREFIX.into());
            prefix.origin = Origin::Default;
        }
        Ok(out)
    }

    /// Resolves flags/env over the config file.
    pub fn resolve(&self) -> Result<Resolved, ConfigError> {
        let (_, file) = self.file()?;
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
            prefix: pick(&self.prefix, &file.prefix).unwrap_or_else(|| DEFAULT_PREFIX.into()),
        })
    }

    /// The settings given as flags or environment variables, as a file.
    pub fn as_file(&self) -> FileConfig {
        FileConfig {
            chain_id: self.chain_id.clone(),
            rpc: self.rpc.clone(),
            registry: self.registry.clone(),
            directory: self.directory.clone(),
            gas_prices: self.gas_prices.clone(),
            prefix: self.prefix.clone(),
        }
    }
}

impl FileConfig {
    /// `self`, with every field `over` sets replaced.
    pub fn overlay(self, over: FileConfig) -> FileConfig {
        FileConfig {
            chain_id: over.chain_id.or(self.chain_id),
            rpc: over.rpc.or(self.rpc),
            registry: over.registry.or(self.registry),
            directory: over.directory.or(self.directory),
            gas_prices: over.gas_prices.or(self.gas_prices),
            prefix: over.prefix.or(self.prefix),
        }
    }

    /// The settings of a localnet env file (`KEY=value` lines as written by
    /// `localnet/localnet up`; values may be quoted, `export` is allowed).
    pub fn from_env_file(text: &str) -> FileConfig {
        let mut vars = std::collections::HashMap::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let line = line.strip_prefix("export ").unwrap_or(line);
            if let Some((k, v)) = line.split_once('=') {
                vars.insert(k.trim().to_owned(), unquote(v.trim()).to_owned());
            }
        }
        let get = |k: &str| vars.get(k).filter(|v| !v.is_empty()).cloned();
        FileConfig {
            chain_id: get("CHAIN_ID"),
            rpc: get("RPC"),
            registry: get("REGISTRY"),
            directory: get("DIRECTORY"),
            gas_prices: get("GAS_PRICES"),
            prefix: None,
        }
    }

    /// Writes the file (creating its directory); refuses to replace an
    /// existing file unless `force`.
    pub fn write(&self, path: &Path, force: bool) -> Result<(), ConfigError> {
        let err = |e: String| ConfigError::File(path.into(), e);
        if path.exists() && !force {
            return Err(err("already exists (pass --force to replace it)".into()));
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| err(e.to_string()))?;
        }
        let text = toml::to_string(self).map_err(|e| err(e.to_string()))?;
        std::fs::write(path, text).map_err(|e| err(e.to_string()))
    }
}

/// `'v'` or `"v"` → `v`.
fn unquote(v: &str) -> &str {
    for q in ['\'', '"'] {
        if let Some(inner) = v.strip_prefix(q).and_then(|r| r.strip_suffix(q)) {
            return inner;
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_file_values_may_be_quoted() {
        let text = "# comment\nCHAIN_ID=avpn-localnet\nexport RPC='http://127.0.0.1:26657'\nREGISTRY=\"akash1reg\"\nDIRECTORY=\nGAS_PRICES=0.025uakt\nTX_FLAGS='--a b'\n";
        assert_eq!(
            FileConfig::from_env_file(text),
            FileConfig {
                chain_id: Some("avpn-localnet".into()),
                rpc: Some("http://127.0.0.1:26657".into()),
                registry: Some("akash1reg".into()),
                directory: None,
                gas_prices: Some("0.025uakt".into()),
                prefix: None,
            }
        );
    }

    #[test]
    fn written_file_reads_back_and_is_not_replaced() {
        let dir = std::env::temp_dir().join(format!("avpn-cfg-{}", std::process::id()));
        let path = dir.join("sub/config.toml");
        let cfg = FileConfig {
            chain_id: Some("c".into()),
            rpc: Some("http://x:1".into()),
            ..FileConfig::default()
        };
        cfg.write(&path, false).unwrap();
        assert_eq!(read_file(&path, true).unwrap(), cfg);
        assert!(cfg.write(&path, false).is_err());
        cfg.clone()
            .overlay(FileConfig::default())
            .write(&path, true)
            .unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn explain_names_origins() {
        let dir = std::env::temp_dir().join(format!("avpn-explain-{}", std::process::id()));
        let path = dir.join("config.toml");
        FileConfig {
            chain_id: Some("from-file".into()),
            rpc: Some("http://file:1".into()),
            ..FileConfig::default()
        }
        .write(&path, true)
        .unwrap();
        let args = ChainArgs {
            config: Some(path.clone()),
            rpc: Some("http://flag:1".into()),
            registry: Some("akash1env".into()),
            ..ChainArgs::default()
        };
        let got = args.explain(&["registry"]).unwrap();
        let origin = |n: &str| got.iter().find(|s| s.name == n).unwrap().origin.clone();
        assert_eq!(origin("chain_id"), Origin::File(path.clone()));
        assert_eq!(origin("rpc"), Origin::Flag);
        assert_eq!(origin("registry"), Origin::Env("AVPN_REGISTRY"));
        assert_eq!(origin("directory"), Origin::Unset);
        assert_eq!(origin("prefix"), Origin::Default);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
