//! `avpn-relayer`: the avpn relayer of one Akash provider. It watches the
//! network-registry and provider-directory contracts and enforces the
//! networks this provider serves in a QUIC overlay; it also registers the
//! provider's relayer in the directory and rotates its key.

mod commands;
mod config;
mod http;
mod identity;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::{LogFormat, Settings};

/// avpn relayer: private networks between Akash leases, enforced on the
/// provider in an encrypted QUIC overlay. The chain is the source of truth.
///
/// Settings come from a TOML file (--config; keys are the flag names with
/// underscores, e.g. `rpc_url = "http://127.0.0.1:26657"`), overridden by flags.
#[derive(Parser, Debug)]
#[command(name = "avpn-relayer", version, about, long_about)]
struct Cli {
    /// TOML config file; every flag below can also be set there.
    #[arg(long, short, global = true, env = "AVPN_RELAYER_CONFIG")]
    config: Option<PathBuf>,
    #[command(flatten)]
    settings: Settings,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Watch the chain and serve this provider's networks (long-running).
    Run,
    /// Write this provider's directory record: overlay key (from the
    /// identity in the data dir, created if missing), endpoints, region,
    /// relay flag. Updates endpoints/region/relay if already registered.
    Register {
        /// Public QUIC endpoint `ip:port` peers dial (repeat for several).
        #[arg(long = "endpoint", required = true)]
        endpoints: Vec<String>,
        /// Free region label, e.g. eu-central.
        #[arg(long)]
        region: Option<String>,
        /// Offer relaying for third parties.
        #[arg(long)]
        relay: bool,
    },
    /// Create a new overlay key and publish it; the old key stays valid for
    /// peers until the overlap ends. Restart `run` afterwards.
    RotateKey {
        /// Seconds the old key stays valid.
        #[arg(long, default_value_t = 3600)]
        overlap_secs: u64,
    },
    /// Remove this provider's directory record.
    Deregister,
    /// Show the running relayer's networks, members, IPs, peers and last
    /// change (from its HTTP endpoint).
    Status {
        /// Base URL of the relayer's HTTP endpoint [default: from --http-listen].
        #[arg(long)]
        url: Option<String>,
        /// Print the raw JSON.
        #[arg(long)]
        json: bool,
    },
    /// Manage the overlay identity key in the data dir.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
}

#[derive(Subcommand, Debug)]
enum KeysCommand {
    /// Create the identity (fails if one exists).
    Create,
    /// Print the public key (hex and base64).
    Show,
}

fn init_logs(format: Option<LogFormat>) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format.unwrap_or(LogFormat::Text) {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load(cli.settings, cli.config.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    init_logs(settings.log_format);
    let result = match cli.command {
        Command::Run => commands::run(settings).await,
        Command::Register {
            endpoints,
            region,
            relay,
        } => commands::register(settings, endpoints, region, relay).await,
        Command::RotateKey { overlap_secs } => commands::rotate_key(settings, overlap_secs).await,
        Command::Deregister => commands::deregister(settings).await,
        Command::Status { url, json } => commands::status(settings, url, json).await,
        Command::Keys {
            command: KeysCommand::Create,
        } => commands::keys_create(settings),
        Command::Keys {
            command: KeysCommand::Show,
        } => commands::keys_show(settings),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
