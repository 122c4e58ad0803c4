//! `avpn provider authorize|revoke|list`.

use clap::Subcommand;
use network_registry::msg::{ExecuteMsg, NetworkProviderResponse};
use serde::Serialize;

use super::{CliError, Ctx};
use crate::output::{self, Render};

/// Provider commands.
#[derive(Subcommand, Debug)]
pub enum ProviderCmd {
    /// Let a provider serve (host or relay for) a network.
    Authorize {
        /// Network id or name.
        network: String,
        /// Provider address.
        provider: String,
    },
    /// Withdraw a provider's authorization (one still hosting members keeps
    /// serving until they leave).
    Revoke {
        /// Network id or name.
        network: String,
        /// Provider address.
        provider: String,
    },
    /// List the providers authorized for or hosting members of a network.
    List {
        /// Network id, or name (of the sender or --owner).
        network: String,
        /// Owner of a network given by name [default: the sender].
        #[arg(long)]
        owner: Option<String>,
    },
}

/// Runs a provider command.
pub async fn run(ctx: &Ctx, cmd: &ProviderCmd) -> Result<(), CliError> {
    let chain = ctx.connect().await?;
    let (network, provider, authorize) = match cmd {
        ProviderCmd::Authorize { network, provider } => (network, provider, true),
        ProviderCmd::Revoke { network, provider } => (network, provider, false),
        ProviderCmd::List { network, owner } => {
            let net = ctx.find_network(&chain, network, owner.as_deref()).await?;
            return ctx.emit(&ProviderList(chain.providers(net.id).await?));
        }
    };
    let network_id = ctx.find_network(&chain, network, None).await?.id;
    let provider = provider.clone();
    let msg = if authorize {
        ExecuteMsg::AuthorizeProvider {
            network_id,
            provider,
        }
    } else {
        ExecuteMsg::RevokeProvider {
            network_id,
            provider,
        }
    };
    ctx.send(&chain, &[msg]).await
}

/// Providers of a network, as the registry returns them.
#[derive(Debug, Serialize)]
#[serde(transparent)]
pub struct ProviderList(pub Vec<NetworkProviderResponse>);

impl Render for ProviderList {
    fn human(&self) -> String {
        if self.0.is_empty() {
            return "no providers".into();
        }
        output::table(
            &["PROVIDER", "AUTHORIZED", "HOSTED MEMBERS"],
            self.0.iter().map(|p| {
                vec![
                    p.provider.to_string(),
                    if p.authorized { "yes" } else { "no" }.to_owned(),
                    p.hosted_members.to_string(),
                ]
            }),
        )
    }
}
