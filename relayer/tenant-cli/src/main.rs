//! `avpn`: the tenant CLI (see the crate docs and README).

use std::process::ExitCode;

use avpn_tenant_cli::chain::KeyArgs;
use avpn_tenant_cli::config::ChainArgs;
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
enum Command {}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let _cli = Cli::parse();
    match cli.command {}
}
