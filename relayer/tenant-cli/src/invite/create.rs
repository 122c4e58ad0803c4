//! `avpn invite create`: a fresh key, the invitation on chain, one token.

use avpn_control::tx::TxError;
use cosmwasm_std::{Binary, Timestamp};
use network_registry::msg::{ExecuteMsg, KeyType};

use crate::chain::{Chain, ChainError, KeyArgs, Submitted};
use crate::config::ChainArgs;

use super::error::InviteError;
use super::keys::InviteKey;
use super::token::Token;
use super::{CreateArgs, expiry, onchain, qr};

/// Event and attribute naming the new invitation.
const EVENT: &str = "wasm-create_invitation";
const ATTRIBUTE: &str = "invitation_id";

/// Runs `avpn invite create`.
pub async fn run(args: CreateArgs, chain: &ChainArgs, keys: &KeyArgs) -> Result<(), InviteError> {
    let lifetime = expiry::parse(&args.expires)?;
    let chain = Chain::connect(chain.resolve()?).await?;
    let now = onchain::chain_time(&chain).await?;
    let expires = u64::try_from(lifetime.as_nanos())
        .ok()
        .and_then(|n| now.nanos().checked_add(n))
        .map(Timestamp::from_nanos)
        .ok_or(InviteError::TooFar)?;
    let key = InviteKey::generate()?;
    let msg = ExecuteMsg::CreateInvitation {
        network_id: args.network_id,
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
        network_id: args.network_id,
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
                    args.network_id,
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

/// Prints the token line (and its QR code) on stdout.
fn print_token(token: &Token, with_qr: bool) -> Result<(), InviteError> {
    let text = token.encode()?;
    println!("{}", *text);
    if with_qr {
        println!("{}", *qr::render(&text)?);
    }
    Ok(())
}
