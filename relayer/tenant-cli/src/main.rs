//! `avpn`: the tenant CLI (see the crate docs and README).

use std::process::ExitCode;

use avpn_tenant_cli::chain::KeyArgs;
use avpn_tenant_cli::config::ChainArgs;
use avpn_tenant_cli::console::{self, ConsoleArgs};
use clap::{Parser, Subcommand};

/// Private networks between Akash leases: networks, members, manifests,
/// invitations, policy explain and a web console.
#[derive(Parser, Debug)]
#[command(name = "avpn", version)]
struct Cli {
    #[command(flatten)]
    chain: ChainArgs,
    #[command(flatten)]
    keys: KeyArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve a local read-only web page of one viewer's networks (members,
    /// IPs, leases, providers, sites, invitations, policy matrix, topology).
    Console(ConsoleArgs),
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Console(args) => match console::run(args, &cli.chain, &cli.keys).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("avpn console: {e}");
                ExitCode::FAILURE
            }
        },
    }
}
