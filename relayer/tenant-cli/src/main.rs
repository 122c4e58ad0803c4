//! `avpn`: the tenant CLI (see the crate docs and README).

use std::process::ExitCode;

use avpn_tenant_cli::chain::KeyArgs;
use avpn_tenant_cli::commands::config_cmd::{self, ConfigCmd};
use avpn_tenant_cli::commands::member::{self, MemberCmd};
use avpn_tenant_cli::commands::network::{self, NetworkCmd};
use avpn_tenant_cli::commands::provider::{self, ProviderCmd};
use avpn_tenant_cli::commands::{CliError, Ctx};
use avpn_tenant_cli::config::ChainArgs;
use avpn_tenant_cli::console::{self, ConsoleArgs};
use avpn_tenant_cli::explain;
use avpn_tenant_cli::invite::{self, InviteArgs};
use avpn_tenant_cli::manifest;
use avpn_tenant_cli::output::OutputFormat;
use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

/// Private networks between Akash leases: networks, members, manifests,
/// invitations, policy explain and a web console.
#[derive(Parser, Debug)]
#[command(name = "avpn", version)]
struct Cli {
    #[command(flatten)]
    chain: ChainArgs,
    #[command(flatten)]
    keys: KeyArgs,
    /// Output: tables for people or JSON for programs.
    #[arg(short = 'o', long, global = true, value_enum, default_value_t = OutputFormat::Table)]
    output: OutputFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Create, list, show, update and close networks.
    #[command(subcommand)]
    Network(NetworkCmd),
    /// Add, rebind, remove and list members (leases in a network).
    #[command(subcommand)]
    Member(MemberCmd),
    /// Authorize, revoke and list the providers serving a network.
    #[command(subcommand)]
    Provider(ProviderCmd),
    /// Write or show the config file.
    #[command(subcommand)]
    Config(ConfigCmd),
    /// Why may (or may not) one member reach another: the deciding rule of
    /// the sender's egress and the receiver's ingress.
    Explain(explain::ExplainArgs),
    /// Invitations: create (one token), claim, list, revoke.
    Invite(InviteArgs),
    /// Show what applying a manifest file would change (exit 0: none, 2: changes).
    Plan(manifest::PlanArgs),
    /// Make the network equal to a manifest file (asks unless --yes).
    Apply(manifest::ApplyArgs),
    /// Write a network as a manifest file (YAML or JSON) to standard output.
    Export(manifest::ExportArgs),
    /// Serve a read-only web console of your networks on 127.0.0.1.
    Console(ConsoleArgs),
}

/// Chain settings (argument ids) that can come from flags or environment.
const CHAIN_SETTINGS: [&str; 6] = [
    "chain_id",
    "rpc",
    "registry",
    "directory",
    "gas_prices",
    "prefix",
];

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let matches = match Cli::command().try_get_matches() {
        Ok(m) => m,
        Err(e) => return usage_error(e),
    };
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
    let from_env = CHAIN_SETTINGS
        .into_iter()
        .filter(|id| matches.value_source(id) == Some(ValueSource::EnvVariable))
        .collect();
    let ctx = Ctx {
        chain: cli.chain,
        keys: cli.keys,
        output: cli.output,
        from_env,
    };
    let done = Ok(ExitCode::SUCCESS);
    let result: Result<ExitCode, CliError> = match cli.command {
        Command::Network(cmd) => network::run(&ctx, &cmd).await.and(done),
        Command::Member(cmd) => member::run(&ctx, &cmd).await.and(done),
        Command::Provider(cmd) => provider::run(&ctx, &cmd).await.and(done),
        Command::Config(cmd) => config_cmd::run(&ctx, &cmd).and(done),
        Command::Explain(args) => explain_cmd(&ctx, &args).await.and(done),
        Command::Invite(args) => invite_cmd(&ctx, args).await.and(done),
        Command::Plan(args) => manifest::run_plan(&ctx.chain, &ctx.keys, &args)
            .await
            .map_err(CliError::from),
        Command::Apply(args) => manifest::run_apply(&ctx.chain, &ctx.keys, &args)
            .await
            .map_err(CliError::from),
        Command::Export(args) => manifest::run_export(&ctx.chain, &ctx.keys, &args)
            .await
            .map_err(CliError::from),
        Command::Console(args) => console::run(args, &ctx.chain, &ctx.keys)
            .await
            .map_err(CliError::from)
            .and(done),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", error_chain(&e));
            ExitCode::FAILURE
        }
    }
}

/// `avpn explain`: the network by id or name, then the answer.
async fn explain_cmd(ctx: &Ctx, args: &explain::ExplainArgs) -> Result<(), CliError> {
    let chain = ctx.connect().await?;
    let network = ctx
        .find_network(&chain, &args.network, args.owner.as_deref())
        .await?;
    let answer = explain::run(&chain, &network, args).await?;
    ctx.emit(&answer)
}

/// `avpn invite`: the network by id or name (not for `claim`), then the command.
async fn invite_cmd(ctx: &Ctx, args: InviteArgs) -> Result<(), CliError> {
    let Some(reference) = args.network() else {
        return Ok(invite::run(args, None, &ctx.chain, &ctx.keys).await?);
    };
    let chain = ctx.connect().await?;
    let network_id = ctx.find_network(&chain, reference, None).await?.id;
    let target = invite::Target {
        chain: &chain,
        network_id,
    };
    Ok(invite::run(args, Some(target), &ctx.chain, &ctx.keys).await?)
}

/// Prints a clap error (or the help or version); usage errors exit with 1
/// like every other error.
fn usage_error(e: clap::Error) -> ExitCode {
    let _ = e.print();
    if e.use_stderr() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// The error and its causes, `a: b: c`, skipping causes a message
/// already quotes.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = tidy(&e.to_string());
    let mut source = e.source();
    while let Some(cause) = source {
        let c = tidy(&cause.to_string());
        if !text.contains(&c) {
            text.push_str(": ");
            text.push_str(&c);
        }
        source = cause.source();
    }
    text
}

/// One line from a multi-line report (the RPC client's errors carry an
/// eyre report: `Caused by:` sections, a source location and, with
/// `RUST_BACKTRACE`, a backtrace).
fn tidy(message: &str) -> String {
    let message = message
        .split("\n\nLocation:")
        .next()
        .unwrap_or(message)
        .split("\n\nStack backtrace:")
        .next()
        .unwrap_or(message);
    message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && *l != "Caused by:")
        .collect::<Vec<_>>()
        .join(": ")
        .replace(":: ", ": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
        // a subcommand flag must not shadow a global one of another type
        for args in [
            &["avpn", "-o", "json", "export", "1", "--format", "json"][..],
            &["avpn", "explain", "1", "a", "b", "tcp/1", "-o", "json"][..],
            &["avpn", "plan", "-f", "x.yaml", "-o", "json"][..],
        ] {
            let m = Cli::command().try_get_matches_from(args).unwrap();
            Cli::from_arg_matches(&m).unwrap();
        }
        // a positional must not land in a global flag of the same id
        let m = Cli::command()
            .try_get_matches_from(["avpn", "explain", "net", "web-1", "db-1"])
            .unwrap();
        let cli = Cli::from_arg_matches(&m).unwrap();
        assert_eq!(cli.keys.from, None);
        let Command::Explain(args) = cli.command else {
            panic!("not explain")
        };
        assert_eq!(
            (args.sender.as_str(), args.receiver.as_str()),
            ("web-1", "db-1")
        );
    }

    #[test]
    fn member_weights_are_bounded_on_the_command_line() {
        let add = |weight: &str| {
            Cli::command().try_get_matches_from([
                "avpn",
                "member",
                "add",
                "net",
                "web-1",
                "o/1/1/1/p",
                "--weight",
                weight,
            ])
        };
        let m = add("60000").unwrap();
        let Command::Member(MemberCmd::Add { weight, .. }) =
            Cli::from_arg_matches(&m).unwrap().command
        else {
            panic!("not member add")
        };
        assert_eq!(weight, Some(60_000));
        for bad in ["60001", "-1", "1.5"] {
            assert!(add(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn reports_become_one_line() {
        let report = "node http://x/ unreachable: HTTP error\n\nCaused by:\n    connection refused\n\nLocation:\n    /src/x.rs:10:9\n\nStack backtrace:\n   0: eyre";
        assert_eq!(
            tidy(report),
            "node http://x/ unreachable: HTTP error: connection refused"
        );
        assert_eq!(tidy("plain"), "plain");
    }
}
