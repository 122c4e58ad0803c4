//! `avpn console`: a local, read-only web page showing one viewer's
//! networks, kept current by polling the chain.
//!
//! - [`read`] reads a network's records from the registry (bounded);
//! - [`snapshot`] cuts them down to what the viewer may see;
//! - [`matrix`] evaluates the policies for the matrix with
//!   [`avpn_model::explain`];
//! - [`poll`] refreshes about every block and publishes the snapshot;
//! - [`relayer`] fetches an optional relayer status;
//! - [`server`] serves the page (`page/`, embedded) and the JSON API.
//!
//! The viewer's networks are those it owns (`networks_by_owner`) and those
//! it joined with an invitation (`networks_by_participant`); `--network`
//! adds others. Only the viewer's address is needed; the console never reads a key.

pub mod matrix;
pub mod poll;
pub mod read;
pub mod relayer;
pub mod server;
pub mod snapshot;

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;

use clap::Args;

use crate::chain::{Chain, ChainError, KeyArgs};
use crate::config::{ChainArgs, ConfigError};
use poll::{Board, Poller};
use relayer::{ProbeError, RelayerProbe};

/// Flags of `avpn console`.
#[derive(Args, Clone, Debug)]
pub struct ConsoleArgs {
    /// Where to serve the page; the page has no login, keep it on loopback.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Whose view to show [default: --from, or the key's address].
    #[arg(long)]
    pub address: Option<String>,
    /// Also show this network (repeatable). The viewer's own networks and
    /// those it joined as a participant are shown without it.
    #[arg(long = "network", value_name = "ID")]
    pub networks: Vec<u64>,
    /// A relayer's status URL to show, e.g. http://127.0.0.1:9100/status.
    #[arg(long)]
    pub relayer_status: Option<String>,
}

/// Why the console could not start.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// Chain settings missing.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Node unreachable.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// No viewer address.
    #[error("no viewer: pass --address <akash1…> (or --from, or a key)")]
    NoViewer,
    /// The viewer is not an account address of this chain.
    #[error("--address {0:?} is not an address with prefix {1:?}")]
    BadAddress(String, String),
    /// The relayer status client.
    #[error(transparent)]
    Probe(#[from] ProbeError),
    /// The listen address.
    #[error("cannot listen on {0}: {1}")]
    Listen(SocketAddr, std::io::Error),
    /// Serving stopped.
    #[error("console server: {0}")]
    Serve(std::io::Error),
}

/// The viewer: `--address`, else the sender of `keys`.
fn viewer(args: &ConsoleArgs, chain: &Chain, keys: &KeyArgs) -> Result<String, ConsoleError> {
    let address = match &args.address {
        Some(a) => a.clone(),
        None => chain.sender(keys).map_err(|e| match e {
            ChainError::NoKey | ChainError::NoSender => ConsoleError::NoViewer,
            e => e.into(),
        })?,
    };
    let prefix = &chain.settings().prefix;
    let well_formed = address
        .strip_prefix(prefix.as_str())
        .and_then(|rest| rest.strip_prefix('1'))
        .is_some_and(|data| {
            !data.is_empty()
                && data
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        });
    if !well_formed {
        return Err(ConsoleError::BadAddress(address, prefix.clone()));
    }
    Ok(address)
}

/// Runs the console until interrupted: connects, reads once, prints the
/// URL, then serves while refreshing.
pub async fn run(args: ConsoleArgs, chain: &ChainArgs, keys: &KeyArgs) -> Result<(), ConsoleError> {
    let chain = Chain::connect(chain.resolve()?).await?;
    let viewer = viewer(&args, &chain, keys)?;
    let probe = args.relayer_status.map(RelayerProbe::new).transpose()?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| ConsoleError::Listen(args.listen, e))?;
    let local = listener
        .local_addr()
        .map_err(|e| ConsoleError::Listen(args.listen, e))?;
    let board = Arc::new(Board::new(viewer.clone()));
    let mut poller = Poller::new(chain, viewer.clone(), args.networks, probe);
    poller.refresh(&board).await;
    println!("avpn console: http://{local}/ (viewer {viewer})");
    // The URL line is how scripts learn the port (with --listen …:0).
    let _ = std::io::stdout().flush();
    tokio::spawn(poller.run(board.clone()));
    server::serve(listener, board)
        .await
        .map_err(ConsoleError::Serve)
}
