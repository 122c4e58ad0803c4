//! `avpn config init|show`.

use std::path::PathBuf;

use clap::Subcommand;
use serde::Serialize;

use super::{CliError, Ctx};
use crate::config::{self, ConfigError, FileConfig, Setting};
use crate::output::{self, Render};

/// Default localnet home (its `env` file holds the settings).
const LOCALNET_HOME: &str = "/root/.avpn-localnet";

/// Config commands.
#[derive(Subcommand, Debug)]
pub enum ConfigCmd {
    /// Write the config file from the chain flags (or the localnet's env file).
    Init {
        /// Take chain id, RPC, contracts and gas price from the localnet
        /// ($AVPN_LOCALNET_HOME/env, default /root/.avpn-localnet/env);
        /// flags override.
        #[arg(long)]
        localnet: bool,
        /// Where to write [default: --config, $AVPN_CONFIG or ~/.config/avpn/config.toml].
        #[arg(long)]
        path: Option<PathBuf>,
        /// Replace an existing file.
        #[arg(long)]
        force: bool,
    },
    /// Show the resolved settings and where each came from.
    Show,
}

/// Runs a config command (no chain access).
pub fn run(ctx: &Ctx, cmd: &ConfigCmd) -> Result<(), CliError> {
    match cmd {
        ConfigCmd::Init {
            localnet,
            path,
            force,
        } => {
            let path = path
                .clone()
                .or_else(|| ctx.chain.config.clone())
                .or_else(config::default_path)
                .ok_or(ConfigError::NoPath)?;
            let base = if *localnet {
                let home = std::env::var_os("AVPN_LOCALNET_HOME")
                    .map_or_else(|| PathBuf::from(LOCALNET_HOME), PathBuf::from);
                let env = home.join("env");
                let text = std::fs::read_to_string(&env).map_err(|source| CliError::Read {
                    path: env.display().to_string(),
                    source,
                })?;
                FileConfig::from_env_file(&text)
            } else {
                FileConfig::default()
            };
            let file = base.overlay(ctx.chain.as_file());
            file.write(&path, *force)?;
            ctx.emit(&Written { path, config: file })
        }
        ConfigCmd::Show => ctx.emit(&Settings(ctx.chain.explain(&ctx.from_env)?)),
    }
}

/// A config file written.
#[derive(Debug, Serialize)]
pub struct Written {
    /// Where.
    pub path: PathBuf,
    /// What.
    pub config: FileConfig,
}

impl Render for Written {
    fn human(&self) -> String {
        let text = toml::to_string(&self.config).unwrap_or_default();
        format!("wrote {}:\n{}", self.path.display(), text.trim_end())
    }
}

/// Resolved settings with their origins.
#[derive(Debug)]
pub struct Settings(pub Vec<Setting>);

impl Serialize for Settings {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Entry<'a> {
            value: Option<&'a str>,
            origin: String,
        }
        s.collect_map(self.0.iter().map(|st| {
            (
                st.name,
                Entry {
                    value: st.value.as_deref(),
                    origin: st.origin.to_string(),
                },
            )
        }))
    }
}

impl Render for Settings {
    fn human(&self) -> String {
        output::table(
            &["SETTING", "VALUE", "FROM"],
            self.0.iter().map(|s| {
                let value = match (&s.value, s.name) {
                    (Some(v), _) => v.clone(),
                    (None, "gas_prices") => "(the node's minimum gas price)".into(),
                    (None, _) => "-".into(),
                };
                vec![s.name.to_owned(), value, s.origin.to_string()]
            }),
        )
    }
}
