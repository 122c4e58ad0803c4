//! `avpn`: the tenant CLI (see the crate docs and README).

use std::process::ExitCode;

use avpn_tenant_cli::chain::KeyArgs;
use avpn_tenant_cli::config::ChainArgs;
use avpn_tenant_cli::manifest;
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
    /// Show what applying a manifest file would change (exit 0: none, 2: changes).
    Plan(manifest::PlanArgs),
    /// Make the network equal to a manifest file (asks unless --yes).
    Apply(manifest::ApplyArgs),
    /// Write a network as a manifest file (YAML or JSON) to standard output.
    Export(manifest::ExportArgs),
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match &cli.command {
        Command::Plan(args) => manifest::run_plan(&cli.chain, &cli.keys, args).await,
        Command::Apply(args) => manifest::run_apply(&cli.chain, &cli.keys, args).await,
        Command::Export(args) => manifest::run_export(&cli.chain, &cli.keys, args).await,
    }
}
