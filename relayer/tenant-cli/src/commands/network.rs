//! `avpn network create|list|show|update|close`.

use std::time::SystemTime;

use clap::{Args, Subcommand, ValueEnum};
use cosmwasm_std::Timestamp;
use network_registry::msg::{Action, ExecuteMsg, NetworkResponse, NetworkStatus};
use serde::Serialize;

use super::{CliError, Ctx};
use crate::output::{self, Render};
use crate::parse;

/// Network commands.
#[derive(Subcommand, Debug)]
pub enum NetworkCmd {
    /// Create a network owned by the sender; prints its id.
    Create(CreateArgs),
    /// List the networks of the sender (or of --owner), open and closed.
    List {
        /// Owner whose networks to list [default: the sender].
        #[arg(long)]
        owner: Option<String>,
        /// List the open networks the account joined with an invitation
        /// instead of those it owns.
        #[arg(long)]
        joined: bool,
    },
    /// Show one network, by id or by name.
    Show {
        /// Network id, or name (of the sender or --owner).
        network: String,
        /// Owner of a network given by name [default: the sender].
        #[arg(long)]
        owner: Option<String>,
    },
    /// Change the default action, tags or time box of a network.
    Update(UpdateArgs),
    /// Close a network: relayers stop serving it and its name is free again.
    Close {
        /// Network id or name.
        network: String,
    },
}

/// The firewall's default action.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum DefaultAction {
    /// Flows no rule matches are allowed.
    Allow,
    /// Flows no rule matches are dropped.
    Deny,
}

impl From<DefaultAction> for Action {
    fn from(a: DefaultAction) -> Action {
        match a {
            DefaultAction::Allow => Action::Allow,
            DefaultAction::Deny => Action::Deny,
        }
    }
}

/// When a network is in service.
#[derive(Args, Debug, Default)]
pub struct Window {
    /// Start of service: 2026-12-24T18:00Z, RFC 3339, or now+1h.
    #[arg(long, value_name = "TIME")]
    pub start: Option<String>,
    /// End of service (same forms as --start).
    #[arg(long, value_name = "TIME", conflicts_with = "duration")]
    pub end: Option<String>,
    /// End of service as a duration after the start (or after now): 72h, 30m, 1d.
    #[arg(long = "for", id = "duration", value_name = "DURATION")]
    pub duration: Option<String>,
}

impl Window {
    /// `(start_time, end_time)` as the registry takes them.
    pub fn times(
        &self,
        now: SystemTime,
    ) -> Result<(Option<Timestamp>, Option<Timestamp>), CliError> {
        let start = self
            .start
            .as_deref()
            .map(|s| parse::time(s, now))
            .transpose()?;
        let end = match (&self.end, &self.duration) {
            (Some(end), _) => Some(parse::time(end, now)?),
            (None, Some(d)) => {
                let d = parse::duration(d)?;
                let from = match start {
                    Some(start) => start,
                    None => parse::time("now", now)?,
                };
                Some(
                    parse::later(from, d)
                        .ok_or_else(|| parse::ParseError::TimeRange(format!("+{d:?}")))?,
                )
            }
            (None, None) => None,
        };
        Ok((start, end))
    }
}

/// `avpn network create`.
#[derive(Args, Debug)]
pub struct CreateArgs {
    /// Name, unique among the sender's open networks ([a-z0-9._-]).
    pub name: String,
    /// IPv4 network without host bits, e.g. 100.64.0.0/24.
    #[arg(long)]
    pub cidr: String,
    /// IPv6 network, e.g. fd00:1::/64 (a member's IPv6 is this prefix plus its IPv4 host offset).
    #[arg(long)]
    pub cidr6: Option<String>,
    /// Default firewall action [registry default: deny].
    #[arg(long = "default", value_enum)]
    pub default_action: Option<DefaultAction>,
    /// Tag vocabulary (site classes), comma-separated: web,db.
    #[arg(long, value_delimiter = ',')]
    pub tags: Vec<String>,
    #[command(flatten)]
    pub window: Window,
}

/// `avpn network update`.
#[derive(Args, Debug)]
pub struct UpdateArgs {
    /// Network id or name.
    pub network: String,
    /// New default firewall action.
    #[arg(long = "default", value_enum)]
    pub default_action: Option<DefaultAction>,
    /// New tag vocabulary, comma-separated (replaces the old one; "" for none).
    #[arg(long, value_delimiter = ',')]
    pub tags: Option<Vec<String>>,
    #[command(flatten)]
    pub window: Window,
}

/// Drops empty tags (`--tags ""` means none).
fn clean(tags: &[String]) -> Vec<String> {
    tags.iter()
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
        .collect()
}

/// Runs a network command.
pub async fn run(ctx: &Ctx, cmd: &NetworkCmd) -> Result<(), CliError> {
    let chain = ctx.connect().await?;
    match cmd {
        NetworkCmd::Create(a) => {
            let (start_time, end_time) = a.window.times(SystemTime::now())?;
            let msg = ExecuteMsg::CreateNetwork {
                name: a.name.clone(),
                cidr: a.cidr.clone(),
                cidr6: a.cidr6.clone(),
                default_action: a.default_action.map(Into::into),
                tags: clean(&a.tags),
                start_time,
                end_time,
            };
            ctx.send(&chain, &[msg]).await
        }
        NetworkCmd::List { owner, joined } => {
            let account = ctx.owner_or_sender(&chain, owner.as_deref())?;
            let networks = if *joined {
                chain.networks_by_participant(&account).await?
            } else {
                chain.networks_by_owner(&account).await?
            };
            ctx.emit(&NetworkList(networks))
        }
        NetworkCmd::Show { network, owner } => {
            let net = ctx.find_network(&chain, network, owner.as_deref()).await?;
            ctx.emit(&NetworkView(net))
        }
        NetworkCmd::Update(a) => {
            let (start_time, end_time) = a.window.times(SystemTime::now())?;
            let tags = a.tags.as_deref().map(clean);
            if a.default_action.is_none()
                && tags.is_none()
                && start_time.is_none()
                && end_time.is_none()
            {
                return Err(CliError::NothingToUpdate);
            }
            let net = ctx.find_network(&chain, &a.network, None).await?;
            let msg = ExecuteMsg::UpdateNetwork {
                network_id: net.id,
                default_action: a.default_action.map(Into::into),
                tags,
                start_time,
                end_time,
            };
            ctx.send(&chain, &[msg]).await
        }
        NetworkCmd::Close { network } => {
            let net = ctx.find_network(&chain, network, None).await?;
            ctx.send(&chain, &[ExecuteMsg::CloseNetwork { network_id: net.id }])
                .await
        }
    }
}

fn action(a: Action) -> &'static str {
    match a {
        Action::Allow => "allow",
        Action::Deny => "deny",
    }
}

fn status(s: NetworkStatus) -> &'static str {
    match s {
        NetworkStatus::Open => "open",
        NetworkStatus::Closed => "closed",
    }
}

/// One network, as the registry returns it.
#[derive(Debug, Serialize)]
#[serde(transparent)]
pub struct NetworkView(pub NetworkResponse);

impl Render for NetworkView {
    fn human(&self) -> String {
        let n = &self.0;
        output::fields(&[
            ("id", n.id.to_string()),
            ("name", n.name.clone()),
            ("owner", n.owner.to_string()),
            ("status", status(n.status).into()),
            ("cidr", n.cidr.clone()),
            ("cidr6", n.cidr6.clone().unwrap_or_default()),
            ("default", action(n.default_action).into()),
            ("tags", output::list(&n.tags)),
            ("start", output::opt_time(n.start_time.as_ref())),
            ("end", output::opt_time(n.end_time.as_ref())),
            ("members", n.member_count.to_string()),
            ("revision", n.revision.to_string()),
            ("created", output::time(&n.created_at)),
        ])
    }
}

/// Networks, as the registry returns them.
#[derive(Debug, Serialize)]
#[serde(transparent)]
pub struct NetworkList(pub Vec<NetworkResponse>);

impl Render for NetworkList {
    fn human(&self) -> String {
        if self.0.is_empty() {
            return "no networks".into();
        }
        output::table(
            &[
                "ID", "NAME", "STATUS", "CIDR", "CIDR6", "DEFAULT", "TAGS", "MEMBERS", "START",
                "END", "REVISION",
            ],
            self.0.iter().map(|n| {
                vec![
                    n.id.to_string(),
                    n.name.clone(),
                    status(n.status).into(),
                    n.cidr.clone(),
                    n.cidr6.clone().unwrap_or_else(|| "-".into()),
                    action(n.default_action).into(),
                    output::list(&n.tags),
                    n.member_count.to_string(),
                    output::opt_time(n.start_time.as_ref()),
                    output::opt_time(n.end_time.as_ref()),
                    n.revision.to_string(),
                ]
            }),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn window_for_counts_from_start_or_now() {
        let now = UNIX_EPOCH + Duration::from_secs(1000);
        let w = Window {
            duration: Some("1h".into()),
            ..Window::default()
        };
        let (s, e) = w.times(now).unwrap();
        assert_eq!((s, e.map(|t| t.seconds())), (None, Some(1000 + 3600)));
        let w = Window {
            start: Some("now+1h".into()),
            duration: Some("2h".into()),
            ..Window::default()
        };
        let (s, e) = w.times(now).unwrap();
        assert_eq!(s.map(|t| t.seconds()), Some(1000 + 3600));
        assert_eq!(e.map(|t| t.seconds()), Some(1000 + 3 * 3600));
        let w = Window {
            end: Some("yesterday".into()),
            ..Window::default()
        };
        assert!(matches!(w.times(now), Err(CliError::Parse(_))));
    }

    #[test]
    fn empty_tags_mean_none() {
        assert_eq!(clean(&["".into()]), Vec::<String>::new());
        assert_eq!(clean(&["web".into(), " db ".into()]), vec!["web", "db"]);
    }
}
