//! `avpn invite create`: a fresh key, the invitation on chain, one token.

use std::time::Duration;

use avpn_control::tx::TxError;
use cosmwasm_std::Binary;
use network_registry::msg::{ExecuteMsg, KeyType};

use crate::chain::{ChainError, KeyArgs, Submitted};
use crate::parse::{self, ParseError};

use super::error::InviteError;
use super::keys::InviteKey;
use super::token::Token;
use super::{CreateArgs, Target, onchain, qr};

/// Event and attribute naming the new invitation.
const EVENT: &str = "wasm-create_invitation";
const ATTRIBUTE: &str = "invitation_id";

/// Runs `avpn invite create`.
pub async fn run(args: CreateArgs, target: Target<'_>, keys: &KeyArgs) -> Result<(), InviteError> {
    let Target { chain, network_id } = target;
    let lifetime = lifetime(&args.expires)?;
    let now = onchain::chain_time(chain).await?;
    let expires = parse::later(now, lifetime).ok_or(InviteError::TooFar)?;
    let key = InviteKey::generate()?;
    let msg = ExecuteMsg::CreateInvitation {
        network_id,
        pubkey: Binary::from(key.public_key().to_vec()),
        key_type: KeyType::Ed25519,
        expires,
        max_uses: args.uses,
        tags: args.tags.clone(),
        max_members: args.max_members,
    };
    let settings = chain.settings();
    let mut token = Token {
        chain_id: settings.chain_id.clone(),
        registry: settings.registry.clone(),
        network_id,
        invitation_id: None,
        key,
    };
    let submitted = match chain.submit(keys, &[msg]).await {
        Err(ChainError::Tx(TxError::NotIncluded(hash, waited))) => {
            // The tx may still land: keep the key rather than lose it.
            eprintln!(
                "warning: tx {hash} was not seen in a block within {waited:?}; the token below works only if it is included"
            );
            return print_token(&token, args.qr);
        }
        other => other?,
    };
    match &submitted {
        Submitted::Included(outcome) => {
            token.invitation_id = outcome
                .attribute(EVENT, ATTRIBUTE)
                .first()
                .and_then(|id| id.parse().ok());
            print_token(&token, args.qr)?;
            match token.invitation_id {
                Some(id) => eprintln!(
                    "invitation {id} on network {}: tags {}, {} use(s), expires {} (tx {})",
                    network_id,
                    args.tags.join(","),
                    args.uses,
                    onchain::rfc3339(expires),
                    outcome.hash
                ),
                None => eprintln!(
                    "warning: tx {} emitted no {ATTRIBUTE}; the token finds the invitation by its key",
                    outcome.hash
                ),
            }
        }
        Submitted::Generated { .. } => {
            print_token(&token, args.qr)?;
            println!();
            onchain::print_generated(&submitted)?;
            eprintln!(
                "warning: the invitation exists only once the tx above is signed and included; until then the token cannot be claimed"
            );
        }
    }
    Ok(())
}

/// The invitation's lifetime from `--expires` (the CLI's duration syntax,
/// e.g. `72h`, `30m`, `7d`, `1h 30m`); zero is refused.
fn lifetime(text: &str) -> Result<Duration, InviteError> {
    match parse::duration(text) {
        Ok(d) if d.is_zero() => Err(InviteError::ExpiresZero),
        Ok(d) => Ok(d),
        Err(ParseError::Duration { input, reason }) => Err(InviteError::Expires { input, reason }),
        Err(other) => Err(InviteError::Expires {
            input: text.to_owned(),
            reason: other.to_string(),
        }),
    }
}

/// Prints the token line (and its QR code) on stdout.
fn print_token(token: &Token, with_qr: bool) -> Result<(), InviteError> {
    let text = token.encode()?;
    println!("{}", *text);
    if with_qr {
        println!("{}", *qr::render(&text)?);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetimes() {
        assert_eq!(lifetime("72h").unwrap(), Duration::from_secs(72 * 3600));
        assert_eq!(lifetime("30m").unwrap(), Duration::from_secs(1800));
        assert_eq!(lifetime("7d").unwrap(), Duration::from_secs(7 * 86400));
        assert_eq!(lifetime("2s").unwrap(), Duration::from_secs(2));
        assert_eq!(lifetime("1h 30m").unwrap(), Duration::from_secs(5400));
        assert!(matches!(lifetime("0s"), Err(InviteError::ExpiresZero)));
        assert!(matches!(lifetime("soon"), Err(InviteError::Expires { .. })));
        assert!(matches!(lifetime("72"), Err(InviteError::Expires { .. })));
        assert_eq!(
            lifetime("soon").unwrap_err().to_string(),
            format!(
                "--expires \"soon\": {} (expected e.g. 30m, 72h, 7d)",
                humantime::parse_duration("soon").unwrap_err()
            )
        );
    }
}
