//! One-command invitations (`avpn invite ...`).
//!
//! The owner runs `avpn invite create`, which makes a fresh ed25519 key,
//! publishes its public half in a `create_invitation` and prints a single
//! [token] carrying the chain, the registry, the network, the
//! invitation and the private key. The invitee runs `avpn invite claim
//! <token>`: every condition the contract checks (expiry by the chain's
//! clock, uses, revocation, membership) is checked first, then the claim
//! bytes are signed with the token's key over the invitee's address.
//! `list` and `revoke` manage a network's invitations.

mod claim;
mod create;
mod error;
pub mod keys;
mod manage;
mod onchain;
mod qr;
pub mod token;

use std::fmt;
use std::str::FromStr;

use clap::{Args, Subcommand};
use zeroize::Zeroizing;

use crate::chain::{Chain, KeyArgs};
use crate::config::ChainArgs;

pub use error::InviteError;

/// `avpn invite`: create, claim, list and revoke invitations.
#[derive(Args, Debug)]
pub struct InviteArgs {
    #[command(subcommand)]
    command: InviteCommand,
}

#[derive(Subcommand, Debug)]
enum InviteCommand {
    /// Create an invitation and print its token (network owner).
    Create(CreateArgs),
    /// Join a network with a token (invitee).
    Claim(ClaimArgs),
    /// List a network's invitations.
    List(ListArgs),
    /// Revoke an invitation (network owner).
    Revoke(RevokeArgs),
}

/// `avpn invite create`.
#[derive(Args, Debug)]
struct CreateArgs {
    /// Network to invite to (id, or name of one of your networks).
    network: String,
    /// Tags the invitee may give its members (comma-separated).
    #[arg(long, required = true, value_delimiter = ',')]
    tags: Vec<String>,
    /// Lifetime, e.g. 30m, 72h, 7d.
    #[arg(long, default_value = "72h")]
    expires: String,
    /// How many accounts may claim it.
    #[arg(long, default_value_t = 1)]
    uses: u32,
    /// Members each claimant may add [default: the registry's maximum].
    #[arg(long)]
    max_members: Option<u32>,
    /// Also print the token as a QR code.
    #[arg(long)]
    qr: bool,
}

/// `avpn invite claim`.
#[derive(Args, Debug)]
struct ClaimArgs {
    /// The token (`avpn-invite1...`), or `-` to read it from stdin (keeps it
    /// out of the process list and shell history).
    token: TokenArg,
}

/// `avpn invite list`.
#[derive(Args, Debug)]
struct ListArgs {
    /// Network (id, or name of one of your networks).
    network: String,
    /// JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// `avpn invite revoke`.
#[derive(Args, Debug)]
struct RevokeArgs {
    /// Network (id, or name of one of your networks).
    network: String,
    /// Invitation to revoke.
    invitation_id: u64,
}

/// A token as given on the command line: wiped on drop, redacted in
/// `Debug`, and never rejected by the argument parser (whose errors would
/// echo it).
#[derive(Clone)]
struct TokenArg(Zeroizing<String>);

impl TokenArg {
    fn is_stdin(&self) -> bool {
        self.0.as_str() == "-"
    }

    fn text(&self) -> &str {
        &self.0
    }
}

impl FromStr for TokenArg {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(TokenArg(Zeroizing::new(s.to_owned())))
    }
}

impl fmt::Debug for TokenArg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenArg(<redacted>)")
    }
}

/// Where a network's invitation command runs: the connected chain and the
/// network, resolved by the caller (`claim` needs neither: its token names
/// them).
#[derive(Clone, Copy, Debug)]
pub struct Target<'a> {
    /// The connected node.
    pub chain: &'a Chain,
    /// The network.
    pub network_id: u64,
}

/// Runs an `avpn invite` command.
pub async fn run(
    args: InviteArgs,
    target: Option<Target<'_>>,
    chain: &ChainArgs,
    keys: &KeyArgs,
) -> Result<(), InviteError> {
    let target = || target.ok_or(InviteError::NoNetwork);
    match args.command {
        InviteCommand::Create(a) => create::run(a, target()?, keys).await,
        InviteCommand::Claim(a) => claim::run(a, chain, keys).await,
        InviteCommand::List(a) => manage::list(a, target()?).await,
        InviteCommand::Revoke(a) => manage::revoke(a, target()?, keys).await,
    }
}

impl InviteArgs {
    /// The network the command names (id or name), resolved by the caller;
    /// `None` for `claim` (the token names it).
    pub fn network(&self) -> Option<&str> {
        match &self.command {
            InviteCommand::Create(a) => Some(&a.network),
            InviteCommand::List(a) => Some(&a.network),
            InviteCommand::Revoke(a) => Some(&a.network),
            InviteCommand::Claim(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_argument_is_redacted() {
        let arg: TokenArg = "avpn-invite1secretsecret".parse().unwrap();
        let args = ClaimArgs { token: arg };
        let debug = format!("{args:?}");
        assert!(!debug.contains("secret"), "{debug}");
    }
}
