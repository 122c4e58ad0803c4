//! `avpn plan -f FILE` and `avpn apply -f FILE [--yes]`: read the file and
//! the network from chain, show the plan, and (apply) send it. An existing
//! network takes one `apply_manifest` tx (default action and tags travel in
//! the manifest, so no `update_network` is needed); a new one first takes a
//! `create_network` tx, whose event gives the id the `apply_manifest` tx
//! needs.

use std::collections::BTreeSet;
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use avpn_control::tx::TxOutcome;
use clap::Args;
use network_registry::msg::{ExecuteMsg, NetworkResponse, NetworkStatus};

use super::convert::Desired;
use super::plan::{self, MemberPlan, Plan};
use super::render::{self, Heading};
use super::{CommandError, connect, file, remote};
use crate::chain::{Chain, KeyArgs, Submitted};
use crate::commands::Generated;
use crate::config::ChainArgs;

/// `avpn plan`.
#[derive(Args, Debug, Clone)]
pub struct PlanArgs {
    /// Manifest file (YAML or JSON; `-` reads standard input).
    #[arg(short = 'f', long = "file")]
    pub file: PathBuf,
}

/// `avpn apply`.
#[derive(Args, Debug, Clone)]
pub struct ApplyArgs {
    /// Manifest file (YAML or JSON; `-` reads standard input).
    #[arg(short = 'f', long = "file")]
    pub file: PathBuf,
    /// Apply without asking.
    #[arg(short = 'y', long)]
    pub yes: bool,
}

/// The file, the network it names (if it exists) and the plan.
struct Prepared {
    desired: Desired,
    network: Option<NetworkResponse>,
    plan: Plan,
}

impl Prepared {
    fn heading(&self) -> Heading<'_> {
        match &self.network {
            Some(n) => Heading {
                name: &n.name,
                id: Some(n.id),
                cidr: &n.cidr,
            },
            None => Heading {
                name: self.desired.name.as_deref().unwrap_or_default(),
                id: None,
                cidr: self.desired.cidr.as_deref().unwrap_or_default(),
            },
        }
    }
}

async fn prepare(
    chain: &Chain,
    keys: &KeyArgs,
    path: &std::path::Path,
) -> Result<Prepared, CommandError> {
    let desired = file::read(path)?.to_desired()?;
    let network = match (desired.id, &desired.name) {
        (Some(id), _) => {
            let n = remote::network(chain, id).await?;
            if n.status == NetworkStatus::Closed {
                return Err(CommandError::Closed(id));
            }
            Some(n)
        }
        (None, Some(name)) => remote::network_by_name(chain, &chain.sender(keys)?, name).await?,
        (None, None) => None, // refused by `to_desired`
    };
    plan::check_network(network.as_ref(), &desired)?;
    let (current, owner) = match &network {
        Some(n) => (
            Some(remote::manifest(chain, n.id).await?),
            n.owner.to_string(),
        ),
        None => (None, chain.sender(keys)?),
    };
    let plan = plan::plan(current.as_ref(), &desired.manifest, &owner)?;
    Ok(Prepared {
        desired,
        network,
        plan,
    })
}

/// Runs `avpn plan`, printing the plan: exit code 0 without changes, 2
/// with changes (an error is exit code 1).
pub async fn run_plan(
    chain: &ChainArgs,
    keys: &KeyArgs,
    args: &PlanArgs,
) -> Result<ExitCode, CommandError> {
    let chain = connect(chain).await?;
    let p = prepare(&chain, keys, &args.file).await?;
    print!("{}", render::render(&p.plan, &p.heading()));
    Ok(ExitCode::from(if p.plan.is_empty() { 0 } else { 2 }))
}

/// Runs `avpn apply`: prints the plan, asks (unless `--yes`), sends it and
/// prints the outcome.
pub async fn run_apply(
    chain: &ChainArgs,
    keys: &KeyArgs,
    args: &ApplyArgs,
) -> Result<ExitCode, CommandError> {
    apply(chain, keys, args).await.map(|()| ExitCode::SUCCESS)
}

async fn apply(chain: &ChainArgs, keys: &KeyArgs, args: &ApplyArgs) -> Result<(), CommandError> {
    let chain = connect(chain).await?;
    let p = prepare(&chain, keys, &args.file).await?;
    print!("{}", render::render(&p.plan, &p.heading()));
    if p.plan.is_empty() {
        return Ok(());
    }
    if !keys.generate_only && !args.yes {
        confirm()?;
    }
    let network_id = match &p.network {
        Some(n) => n.id,
        None => match create(&chain, keys, &p.desired).await? {
            Some(id) => id,
            None => return Ok(()),
        },
    };
    if p.network.is_none()
        && p.desired.manifest.members.is_empty()
        && p.desired.manifest.providers.is_empty()
    {
        println!("Nothing else to apply: the network has no members or providers yet.");
        return Ok(());
    }
    let msg = ExecuteMsg::ApplyManifest {
        network_id,
        manifest: p.desired.manifest.clone(),
    };
    match chain.submit(keys, &[msg]).await? {
        Submitted::Included(out) => {
            println!("Applied the manifest to network {network_id}: {}", tx(&out));
            print_addresses(&chain, network_id, &p.plan).await?;
        }
        Submitted::Generated {
            unsigned_tx,
            commands,
        } => Generated {
            commands,
            unsigned_tx,
        }
        .print(),
    }
    Ok(())
}

/// Sends `create_network`; the new id, or `None` when only generated.
async fn create(chain: &Chain, keys: &KeyArgs, d: &Desired) -> Result<Option<u64>, CommandError> {
    let msg = ExecuteMsg::CreateNetwork {
        name: d.name.clone().unwrap_or_default(),
        cidr: d.cidr.clone().unwrap_or_default(),
        cidr6: d.cidr6.clone(),
        default_action: Some(d.manifest.default_action),
        tags: d.manifest.tags.clone(),
        start_time: None,
        end_time: None,
    };
    match chain.submit(keys, &[msg]).await? {
        Submitted::Included(out) => {
            let id = out
                .attribute("wasm-create_network", "network_id")
                .first()
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| CommandError::NoNetworkId(out.hash.clone()))?;
            println!("Created network {id}: {}", tx(&out));
            Ok(Some(id))
        }
        Submitted::Generated {
            unsigned_tx,
            commands,
        } => {
            Generated {
                commands,
                unsigned_tx,
            }
            .print();
            println!(
                "The network id is known only once this tx is included: run `avpn apply` again then to apply the members."
            );
            Ok(None)
        }
    }
}

/// Asks on the terminal; only `yes` goes on.
fn confirm() -> Result<(), CommandError> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(CommandError::NoTerminal);
    }
    let mut err = std::io::stderr();
    write!(err, "Apply these changes? Only 'yes' is accepted: ")?;
    err.flush()?;
    let mut answer = String::new();
    stdin.lock().read_line(&mut answer)?;
    if answer.trim() == "yes" {
        Ok(())
    } else {
        Err(CommandError::Cancelled)
    }
}

fn tx(out: &TxOutcome) -> String {
    format!(
        "tx {} at height {} (gas used {})",
        out.hash, out.height, out.gas_used
    )
}

/// The addresses of the members the plan added or changed, as on chain now.
async fn print_addresses(chain: &Chain, network_id: u64, plan: &Plan) -> Result<(), CommandError> {
    let added: BTreeSet<&str> = plan
        .members
        .iter()
        .filter_map(|m| match m {
            MemberPlan::Add(m) => Some(m.name.as_str()),
            _ => None,
        })
        .collect();
    let changed: BTreeSet<&str> = plan
        .members
        .iter()
        .filter_map(|m| match m {
            MemberPlan::Change { name, .. } => Some(name.as_str()),
            _ => None,
        })
        .collect();
    let members = chain.members(network_id).await?;
    for m in members {
        let what = if added.contains(m.name.as_str()) {
            "added"
        } else if changed.contains(m.name.as_str()) {
            "changed, address kept"
        } else {
            continue;
        };
        let ip6 = m.ip6.map(|ip| format!(" {ip}")).unwrap_or_default();
        println!("  {} {}{ip6} ({what})", m.name, m.ip);
    }
    Ok(())
}
