//! `avpn export <id|name> [-o yaml|json]`: the network as a manifest file,
//! deterministic (members by name, providers sorted, every address
//! explicit) so that `avpn plan` on it shows no changes.

use std::io::Write;
use std::process::ExitCode;

use clap::Args;
use network_registry::msg::NetworkStatus;

use super::file::{Document, Format};
use super::{CommandError, connect, remote, yaml};
use crate::chain::KeyArgs;
use crate::config::ChainArgs;

/// `avpn export`.
#[derive(Args, Debug, Clone)]
pub struct ExportArgs {
    /// Network id, or name (of the sender's networks, or `--owner`'s).
    pub network: String,
    /// Output format.
    #[arg(long, value_enum, default_value = "yaml")]
    pub format: Format,
    /// Owner whose network `network` names [default: the sender].
    #[arg(long)]
    pub owner: Option<String>,
}

/// Runs `avpn export`, writing the document to standard output.
pub async fn run_export(
    chain: &ChainArgs,
    keys: &KeyArgs,
    args: &ExportArgs,
) -> Result<ExitCode, CommandError> {
    let text = export(chain, keys, args).await?;
    std::io::stdout().write_all(text.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

async fn export(
    chain: &ChainArgs,
    keys: &KeyArgs,
    args: &ExportArgs,
) -> Result<String, CommandError> {
    let chain = connect(chain).await?;
    let network = match args.network.parse::<u64>() {
        Ok(id) => remote::network(&chain, id).await?,
        Err(_) => {
            let owner = match &args.owner {
                Some(o) => o.clone(),
                None => chain.sender(keys)?,
            };
            remote::network_by_name(&chain, &owner, &args.network)
                .await?
                .ok_or(CommandError::NotFound {
                    name: args.network.clone(),
                    owner,
                })?
        }
    };
    if network.status == NetworkStatus::Closed {
        return Err(CommandError::Closed(network.id));
    }
    let manifest = remote::manifest(&chain, network.id).await?;
    Ok(yaml::to_string(
        &Document::from_chain(&network, &manifest),
        args.format,
    )?)
}
