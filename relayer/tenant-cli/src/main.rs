//! `avpn`: the tenant CLI (see the crate docs and README).

use std::process::ExitCode;

use avpn_tenant_cli::chain::{Chain, KeyArgs};
use avpn_tenant_cli::config::ChainArgs;
use avpn_tenant_cli::console::{self, ConsoleArgs};
use avpn_tenant_cli::explain;
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
    /// Why may (or may not) one member reach another: the deciding rule of
    /// the sender's egress and the receiver's ingress.
    Explain(explain::ExplainArgs),
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
        Command::Console(args) => {
            console::run(args, &cli.chain, &cli.keys).await?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
