//! Settings: a TOML file (`--config`) with command-line flags overriding
//! each field, then defaults.

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, ValueEnum};
use serde::Deserialize;

/// Lease verification mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum LeaseMode {
    /// Ask the Akash market module (production).
    AkashMarket,
    /// Serve every member without asking (chains without the market module).
    Off,
}

/// Log output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Every setting; each can come from the config file or a flag.
#[derive(Args, Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Chain id the node must serve (e.g. akashnet-2); txs are signed for it.
    #[arg(long, global = true)]
    pub chain_id: Option<String>,
    /// CometBFT RPC of a node: http://host:26657 (tcp:// accepted). Queries,
    /// txs and the event WebSocket all use it.
    #[arg(long, global = true)]
    pub rpc_url: Option<String>,
    /// Address of the network-registry contract.
    #[arg(long, global = true)]
    pub registry: Option<String>,
    /// Address of the provider-directory contract.
    #[arg(long, global = true)]
    pub directory: Option<String>,
    /// Bech32 prefix of account addresses [default: akash].
    #[arg(long, global = true)]
    pub account_prefix: Option<String>,
    /// Directory for the overlay identity key (0600) and the checkpoint
    /// [default: /var/lib/avpn-relayer].
    #[arg(long, global = true)]
    pub data_dir: Option<PathBuf>,
    /// File holding the provider account's BIP-39 mnemonic (never logged).
    /// Needed by register, rotate-key, deregister, and by run unless
    /// --provider is given.
    #[arg(long, global = true)]
    pub mnemonic_file: Option<PathBuf>,
    /// This provider's account address (run only; default: derived from the mnemonic).
    #[arg(long, global = true)]
    pub provider: Option<String>,
    /// UDP address the QUIC overlay listens on [default: 0.0.0.0:7000].
    #[arg(long, global = true)]
    pub listen: Option<SocketAddr>,
    /// TCP address of the HTTP endpoint serving /metrics and /status
    /// [default: 127.0.0.1:9100].
    #[arg(long, global = true)]
    pub http_listen: Option<SocketAddr>,
    /// Lease verification against the Akash market [default: akash-market].
    /// Use `off` only on chains without the market module; status reports it.
    #[arg(long, value_enum, global = true)]
    pub lease_verification: Option<LeaseMode>,
    /// Directory of per-lease attachment files (*.toml: owner, dseq, gseq,
    /// oseq, bseq, netns, mode transparent|userspace, socks, `[serve]`,
    /// `[serve_udp]`); re-read continuously. The relayer serves the networks
    /// that bind these leases.
    #[arg(long, global = true)]
    pub attachments_dir: Option<PathBuf>,
    /// Tenant (network owner) whose networks naming this provider it serves
    /// without hosting one of their leases (consent; repeatable). Naming a
    /// provider on chain never makes it serve a network by itself.
    #[arg(long = "serve-tenant", global = true)]
    pub serve_tenants: Option<Vec<String>>,
    /// Network id this provider serves without hosting one of its leases
    /// (consent; repeatable).
    #[arg(long = "serve-network", global = true)]
    pub serve_networks: Option<Vec<u64>>,
    /// Gas price for txs [default: 0.025uakt].
    #[arg(long, global = true)]
    pub gas_price: Option<String>,
    /// Multiplier on simulated gas [default: 1.4].
    #[arg(long, global = true)]
    pub gas_adjustment: Option<f64>,
    /// Seconds between full revision checks of the provider view [default: 60].
    #[arg(long, global = true)]
    pub resync_secs: Option<u64>,
    /// MTU of the underlay path [default: 1500].
    #[arg(long, global = true)]
    pub underlay_mtu: Option<u16>,
    /// Congestion controller between providers: bbr, cubic or newreno
    /// [default: cubic].
    #[arg(long, global = true)]
    pub congestion: Option<String>,
    /// Threads of the data plane's own runtime [default: 1, fastest
    /// measured on 2 cores; raise it for many busy tenants on many cores,
    /// at most 64].
    #[arg(long, global = true)]
    pub dataplane_threads: Option<NonZeroUsize>,
    /// Log format [default: text]. The filter comes from RUST_LOG (default info).
    #[arg(long, value_enum, global = true)]
    pub log_format: Option<LogFormat>,
}

/// Failure to load settings.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("config {0}: {1}")]
    Read(PathBuf, #[source] std::io::Error),
    /// The file is not valid.
    #[error("config {0}: {1}")]
    Parse(PathBuf, #[source] toml::de::Error),
    /// A required setting is missing.
    #[error("missing setting {0} (config file key or --{1})")]
    Missing(&'static str, &'static str),
}

macro_rules! merge {
    ($flags:ident, $file:ident, $($f:ident),*) => {
        Settings { $($f: $flags.$f.or($file.$f)),* }
    };
}

impl Settings {
    /// Flags override the file (if any).
    pub fn load(flags: Settings, file: Option<&Path>) -> Result<Settings, ConfigError> {
        let Some(path) = file else { return Ok(flags) };
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read(path.into(), e))?;
        let from_file: Settings =
            toml::from_str(&text).map_err(|e| ConfigError::Parse(path.into(), e))?;
        Ok(merge!(
            flags,
            from_file,
            chain_id,
            rpc_url,
            registry,
            directory,
            account_prefix,
            data_dir,
            mnemonic_file,
            provider,
            listen,
            http_listen,
            lease_verification,
            attachments_dir,
            serve_tenants,
            serve_networks,
            gas_price,
            gas_adjustment,
            resync_secs,
            underlay_mtu,
            congestion,
            dataplane_threads,
            log_format
        ))
    }

    /// Required string setting.
    pub fn need<'a>(
        v: &'a Option<String>,
        key: &'static str,
        flag: &'static str,
    ) -> Result<&'a str, ConfigError> {
        v.as_deref().ok_or(ConfigError::Missing(key, flag))
    }

    /// Data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.data_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("/var/lib/avpn-relayer"))
    }

    /// Address prefix.
    pub fn prefix(&self) -> &str {
        self.account_prefix.as_deref().unwrap_or("akash")
    }

    /// HTTP endpoint address.
    pub fn http_listen(&self) -> SocketAddr {
        self.http_listen
            .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 9100)))
    }

    /// Interval of full resyncs.
    pub fn resync_every(&self) -> Duration {
        Duration::from_secs(self.resync_secs.unwrap_or(60).max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_file_and_unknown_keys_fail() {
        let dir = std::env::temp_dir().join(format!("avpn-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("c.toml");
        std::fs::write(
            &f,
            "chain_id = \"a\"\nrpc_url = \"http://x:1\"\nlease_verification = \"off\"\n",
        )
        .unwrap();
        let flags = Settings {
            chain_id: Some("b".into()),
            ..Default::default()
        };
        let s = Settings::load(flags, Some(&f)).unwrap();
        assert_eq!(s.chain_id.as_deref(), Some("b"));
        assert_eq!(s.rpc_url.as_deref(), Some("http://x:1"));
        assert_eq!(s.lease_verification, Some(LeaseMode::Off));
        std::fs::write(&f, "dataplane_threads = 2\n").unwrap();
        let s = Settings::load(Settings::default(), Some(&f)).unwrap();
        assert_eq!(s.dataplane_threads, NonZeroUsize::new(2));
        // No data plane without a thread.
        std::fs::write(&f, "dataplane_threads = 0\n").unwrap();
        assert!(matches!(
            Settings::load(Settings::default(), Some(&f)),
            Err(ConfigError::Parse(..))
        ));
        std::fs::write(&f, "chain-id = \"a\"\n").unwrap();
        assert!(matches!(
            Settings::load(Settings::default(), Some(&f)),
            Err(ConfigError::Parse(..))
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
