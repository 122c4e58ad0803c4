//! `avpn member add|rebind|remove|list`.

use clap::Subcommand;
use network_registry::msg::{ExecuteMsg, MAX_WEIGHT, MemberResponse};
use serde::Serialize;

use super::{CliError, Ctx};
use crate::output::{self, Render};
use crate::parse::{self, LeaseArgs};

/// Member commands.
#[derive(Subcommand, Debug)]
pub enum MemberCmd {
    /// Add a member bound to a lease; prints its IP.
    Add {
        /// Network id or name.
        network: String,
        /// Member name ([a-z0-9._-]).
        name: String,
        #[command(flatten)]
        lease: LeaseArgs,
        /// Tags, comma-separated (from the network's vocabulary): web,db.
        #[arg(long, value_delimiter = ',')]
        tags: Vec<String>,
        /// Service name of the deployment the member runs in.
        #[arg(long)]
        service: Option<String>,
        /// Static IPv4 inside the network [default: the lowest free one].
        #[arg(long)]
        ip: Option<String>,
        /// Replica weight: milliseconds added to the path RTT when relayers
        /// choose a replica of the member's service (0-60000) [default: none].
        #[arg(long, value_parser = clap::value_parser!(u32).range(0..=i64::from(MAX_WEIGHT)))]
        weight: Option<u32>,
    },
    /// Move a member to another lease; it keeps its IP.
    Rebind {
        /// Network id or name.
        network: String,
        /// Member name.
        name: String,
        #[command(flatten)]
        lease: LeaseArgs,
    },
    /// Remove a member and release its IP.
    Remove {
        /// Network id or name.
        network: String,
        /// Member name.
        name: String,
    },
    /// List the members of a network.
    List {
        /// Network id, or name (of the sender or --owner).
        network: String,
        /// Owner of a network given by name [default: the sender].
        #[arg(long)]
        owner: Option<String>,
    },
}

/// Runs a member command.
pub async fn run(ctx: &Ctx, cmd: &MemberCmd) -> Result<(), CliError> {
    let chain = ctx.connect().await?;
    match cmd {
        MemberCmd::Add {
            network,
            name,
            lease,
            tags,
            service,
            ip,
            weight,
        } => {
            let sender = chain.sender(&ctx.keys)?;
            let lease = lease.lease_id(&sender)?;
            let net = ctx.find_network(&chain, network, None).await?;
            let msg = ExecuteMsg::AddMember {
                network_id: net.id,
                name: name.clone(),
                lease,
                tags: tags.iter().filter(|t| !t.is_empty()).cloned().collect(),
                service: service.clone(),
                ip: ip.clone(),
                weight: *weight,
            };
            ctx.send(&chain, &[msg]).await
        }
        MemberCmd::Rebind {
            network,
            name,
            lease,
        } => {
            let sender = chain.sender(&ctx.keys)?;
            let lease = lease.lease_id(&sender)?;
            let net = ctx.find_network(&chain, network, None).await?;
            let msg = ExecuteMsg::RebindMember {
                network_id: net.id,
                name: name.clone(),
                lease,
            };
            ctx.send(&chain, &[msg]).await
        }
        MemberCmd::Remove { network, name } => {
            let net = ctx.find_network(&chain, network, None).await?;
            let msg = ExecuteMsg::RemoveMember {
                network_id: net.id,
                name: name.clone(),
            };
            ctx.send(&chain, &[msg]).await
        }
        MemberCmd::List { network, owner } => {
            let net = ctx.find_network(&chain, network, owner.as_deref()).await?;
            ctx.emit(&MemberList(chain.members(net.id).await?))
        }
    }
}

/// Members, as the registry returns them.
#[derive(Debug, Serialize)]
#[serde(transparent)]
pub struct MemberList(pub Vec<MemberResponse>);

impl Render for MemberList {
    fn human(&self) -> String {
        if self.0.is_empty() {
            return "no members".into();
        }
        output::table(
            &["NAME", "IP", "IP6", "TAGS", "SERVICE", "WEIGHT", "LEASE"],
            self.0.iter().map(|m| {
                vec![
                    m.name.clone(),
                    m.ip.clone(),
                    m.ip6.clone().unwrap_or_else(|| "-".into()),
                    output::list(&m.tags),
                    m.service.clone().unwrap_or_else(|| "-".into()),
                    m.weight.map_or_else(|| "-".into(), |w| format!("{w} ms")),
                    parse::format_lease(&m.lease),
                ]
            }),
        )
    }
}
