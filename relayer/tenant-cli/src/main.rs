//! `avpn`: the tenant CLI (see the crate docs and README).

use std::process::ExitCode;

use avpn_tenant_cli::chain::{Chain, KeyArgs};
use avpn_tenant_cli::config::ChainArgs;
use avpn_tenant_cli::explain;
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
    /// Why may (or may not) one member reach another: the deciding rule of
    /// the sender's egress and the receiver's ingress.
    Explain(explain::ExplainArgs),
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
    match run(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let _ = &cli.keys;
    match cli.command {
        Command::Explain(args) => {
            let chain = Chain::connect(cli.chain.resolve()?).await?;
            let answer = explain::run(&chain, &args).await?;
            print!("{answer}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Plan(args) => Ok(manifest::run_plan(&cli.chain, &cli.keys, &args).await?),
        Command::Apply(args) => Ok(manifest::run_apply(&cli.chain, &cli.keys, &args).await?),
        Command::Export(args) => Ok(manifest::run_export(&cli.chain, &cli.keys, &args).await?),
    }
}
