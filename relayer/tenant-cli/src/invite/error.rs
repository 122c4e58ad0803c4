//! Everything that can stop an `avpn invite` command. No variant carries
//! an invitation's private key or token.

use crate::chain::ChainError;
use crate::config::ConfigError;

use super::keys::KeyError;
use super::qr::QrError;
use super::token::TokenError;

/// Failure of an `avpn invite` command.
#[derive(Debug, thiserror::Error)]
pub enum InviteError {
    /// The token does not decode.
    #[error("invalid invitation token: {0}")]
    Token(#[from] TokenError),
    /// Chain settings missing or unreadable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Node, query or tx failure.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// `--expires` is not a duration.
    #[error("--expires {input:?}: {reason} (expected e.g. 30m, 72h, 7d)")]
    Expires {
        /// What was given.
        input: String,
        /// Why it was refused.
        reason: String,
    },
    /// A network command ran without a resolved network (a caller bug).
    #[error("no network given")]
    NoNetwork,
    /// `--expires` is zero.
    #[error("--expires must be longer than zero")]
    ExpiresZero,
    /// No randomness for the key.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// QR rendering failed.
    #[error(transparent)]
    Qr(#[from] QrError),
    /// The token was read from stdin and that failed.
    #[error("reading the token from stdin: {0}")]
    Stdin(std::io::Error),
    /// Writing JSON output failed.
    #[error("writing JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The token names another chain than the configured one.
    #[error(
        "the token is for chain {token}, but the configured chain is {configured}; nothing was sent"
    )]
    WrongChain {
        /// The token's chain id.
        token: String,
        /// The configured chain id.
        configured: String,
    },
    /// The token names another registry contract than the configured one.
    #[error(
        "the token is for registry contract {token}, but the configured registry is {configured}; nothing was sent"
    )]
    WrongContract {
        /// The token's registry.
        token: String,
        /// The configured registry.
        configured: String,
    },
    /// The network is closed.
    #[error("network {0} is closed; nothing was sent")]
    NetworkClosed(u64),
    /// The token's invitation is not listed.
    #[error(
        "invitation {id} of network {network} does not exist (revoked, or never created); nothing was sent"
    )]
    NotFound {
        /// Network.
        network: u64,
        /// Invitation.
        id: u64,
    },
    /// A generate-only token whose invitation is not (or no longer) listed.
    #[error(
        "no invitation of network {0} has the token's key (revoked, or its create tx was never included); nothing was sent"
    )]
    NoInvitationForKey(u64),
    /// The listed invitation has another key than the token.
    #[error(
        "invitation {id} of network {network} has another key than the token (forged or mixed-up token); nothing was sent"
    )]
    KeyMismatch {
        /// Network.
        network: u64,
        /// Invitation.
        id: u64,
    },
    /// The invitation expired (by the chain's clock).
    #[error(
        "invitation {id} of network {network} expired at {expires} (chain time {now}); nothing was sent"
    )]
    Expired {
        /// Network.
        network: u64,
        /// Invitation.
        id: u64,
        /// Expiry, RFC 3339.
        expires: String,
        /// Latest block time, RFC 3339.
        now: String,
    },
    /// Every use of the invitation was taken.
    #[error(
        "invitation {id} of network {network} is used up ({uses}/{max} uses); nothing was sent"
    )]
    UsedUp {
        /// Network.
        network: u64,
        /// Invitation.
        id: u64,
        /// Uses so far.
        uses: u32,
        /// Allowed uses.
        max: u32,
    },
    /// The claimant owns the network.
    #[error(
        "{address} owns network {network}; an owner cannot claim its own invitation; nothing was sent"
    )]
    Owner {
        /// Network.
        network: u64,
        /// The claimant.
        address: String,
    },
    /// The claimant already joined.
    #[error(
        "{address} is already a participant of network {network} (joined with invitation {invitation}); nothing was sent"
    )]
    AlreadyParticipant {
        /// Network.
        network: u64,
        /// The claimant.
        address: String,
        /// The invitation it joined with.
        invitation: u64,
    },
    /// The chain's block time is before 1970 or beyond 2554.
    #[error("the chain's latest block time is out of range")]
    ChainTime,
    /// `--expires` reaches beyond what a timestamp holds.
    #[error("--expires is too far in the future")]
    TooFar,
}
