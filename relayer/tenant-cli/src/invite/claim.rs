//! `avpn invite claim`: checks everything the contract would refuse before
//! sending, then signs the claim with the token's key.

use std::io::BufRead;

use cosmwasm_std::{Binary, Timestamp};
use network_registry::msg::{
    ExecuteMsg, InvitationResponse, KeyType, NetworkResponse, NetworkStatus, QueryMsg,
};

use crate::chain::{Chain, KeyArgs, Submitted};
use crate::config::{ChainArgs, Resolved};

use super::error::InviteError;
use super::keys::Claim;
use super::token::Token;
use super::{ClaimArgs, onchain};

/// Runs `avpn invite claim`.
pub async fn run(args: ClaimArgs, chain: &ChainArgs, keys: &KeyArgs) -> Result<(), InviteError> {
    let token = if args.token.is_stdin() {
        let mut line = zeroize::Zeroizing::new(String::new());
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(InviteError::Stdin)?;
        Token::decode(&line)?
    } else {
        Token::decode(args.token.text())?
    };
    let chain = Chain::connect(settings(chain, &token)?).await?;
    let claimant = chain.sender(keys)?;
    let network: NetworkResponse = chain
        .query(&QueryMsg::Network {
            network_id: token.network_id,
        })
        .await?;
    if network.status == NetworkStatus::Closed {
        return Err(InviteError::NetworkClosed(network.id));
    }
    let invitations = onchain::invitations(&chain, token.network_id).await?;
    let now = onchain::chain_time(&chain).await?;
    let invitation = select(&token, invitations, now)?;
    if network.owner.as_str() == claimant {
        return Err(InviteError::Owner {
            network: network.id,
            address: claimant,
        });
    }
    if let Some(p) = onchain::participant(&chain, network.id, &claimant).await? {
        return Err(InviteError::AlreadyParticipant {
            network: network.id,
            address: claimant,
            invitation: p.invitation_id,
        });
    }
    let settings = chain.settings();
    let signature = token.key.sign_claim(&Claim {
        chain_id: &settings.chain_id,
        contract: &settings.registry,
        network_id: network.id,
        invitation_id: invitation.id,
        claimant: &claimant,
    });
    let msg = ExecuteMsg::ClaimInvitation {
        network_id: network.id,
        invitation_id: invitation.id,
        signature: Binary::from(signature.to_vec()),
    };
    let submitted = chain.submit(keys, &[msg]).await?;
    let summary = format!(
        "network {} ({}): tags {}; up to {} member(s) of your own",
        network.id,
        network.name,
        invitation.tags.join(","),
        invitation.max_members
    );
    match &submitted {
        Submitted::Included(outcome) => {
            println!("{claimant} joined {summary} (tx {})", outcome.hash);
        }
        Submitted::Generated { .. } => {
            onchain::print_generated(&submitted)?;
            eprintln!("once included, {claimant} joins {summary}");
        }
    }
    Ok(())
}

/// Chain settings for a claim: configured values win, the token fills in
/// chain id and registry when none are configured (never the RPC), and a
/// configured value that differs from the token's is refused.
fn settings(args: &ChainArgs, token: &Token) -> Result<Resolved, InviteError> {
    let (_, file) = args.file()?;
    let mut args = args.clone();
    if args.chain_id.is_none() && file.chain_id.is_none() {
        args.chain_id = Some(token.chain_id.clone());
    }
    if args.registry.is_none() && file.registry.is_none() {
        args.registry = Some(token.registry.clone());
    }
    let resolved = args.resolve()?;
    if resolved.chain_id != token.chain_id {
        return Err(InviteError::WrongChain {
            token: token.chain_id.clone(),
            configured: resolved.chain_id,
        });
    }
    if resolved.registry != token.registry {
        return Err(InviteError::WrongContract {
            token: token.registry.clone(),
            configured: resolved.registry,
        });
    }
    Ok(resolved)
}

/// The token's invitation among those listed, if it can still be claimed
/// at chain time `now`.
fn select(
    token: &Token,
    invitations: Vec<InvitationResponse>,
    now: Timestamp,
) -> Result<InvitationResponse, InviteError> {
    let network = token.network_id;
    let public = token.key.public_key();
    let has_key =
        |i: &InvitationResponse| i.key_type == KeyType::Ed25519 && i.pubkey.as_slice() == public;
    let invitation = match token.invitation_id {
        Some(id) => {
            let found = invitations
                .into_iter()
                .find(|i| i.id == id)
                .ok_or(InviteError::NotFound { network, id })?;
            if !has_key(&found) {
                return Err(InviteError::KeyMismatch { network, id });
            }
            found
        }
        None => invitations
            .into_iter()
            .find(has_key)
            .ok_or(InviteError::NoInvitationForKey(network))?,
    };
    if now >= invitation.expires {
        return Err(InviteError::Expired {
            network,
            id: invitation.id,
            expires: onchain::rfc3339(invitation.expires),
            now: onchain::rfc3339(now),
        });
    }
    if invitation.uses >= invitation.max_uses {
        return Err(InviteError::UsedUp {
            network,
            id: invitation.id,
            uses: invitation.uses,
            max: invitation.max_uses,
        });
    }
    Ok(invitation)
}

#[cfg(test)]
mod tests {
    use super::super::keys::{InviteKey, SEED_LEN};
    use super::*;

    fn token(id: Option<u64>, seed: u8) -> Token {
        Token {
            chain_id: "c".into(),
            registry: "r".into(),
            network_id: 5,
            invitation_id: id,
            key: InviteKey::from_seed(&[seed; SEED_LEN]),
        }
    }

    fn invitation(id: u64, seed: u8, uses: u32) -> InvitationResponse {
        InvitationResponse {
            id,
            pubkey: Binary::from(
                InviteKey::from_seed(&[seed; SEED_LEN])
                    .public_key()
                    .to_vec(),
            ),
            key_type: KeyType::Ed25519,
            expires: Timestamp::from_seconds(100),
            max_uses: 2,
            uses,
            tags: vec!["web".into()],
            max_members: 3,
        }
    }

    #[test]
    fn selection_and_refusals() {
        let now = Timestamp::from_seconds(50);
        let listed = || {
            vec![
                invitation(1, 1, 0),
                invitation(2, 2, 0),
                invitation(3, 3, 2),
            ]
        };
        assert_eq!(select(&token(Some(2), 2), listed(), now).unwrap().id, 2);
        assert_eq!(select(&token(None, 2), listed(), now).unwrap().id, 2);
        assert!(matches!(
            select(&token(Some(9), 2), listed(), now),
            Err(InviteError::NotFound { id: 9, .. })
        ));
        assert!(matches!(
            select(&token(Some(1), 2), listed(), now),
            Err(InviteError::KeyMismatch { id: 1, .. })
        ));
        assert!(matches!(
            select(&token(None, 9), listed(), now),
            Err(InviteError::NoInvitationForKey(5))
        ));
        assert!(matches!(
            select(&token(Some(3), 3), listed(), now),
            Err(InviteError::UsedUp {
                uses: 2,
                max: 2,
                ..
            })
        ));
        assert!(matches!(
            select(&token(Some(2), 2), listed(), Timestamp::from_seconds(100)),
            Err(InviteError::Expired { .. })
        ));
    }

    #[test]
    fn token_fills_missing_settings_but_never_overrides() {
        let dir = std::env::temp_dir().join(format!("avpn-claim-settings-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let config = dir.join("config.toml");
        std::fs::write(&config, "rpc = \"http://127.0.0.1:1\"\n").unwrap();
        let args = ChainArgs {
            config: Some(config.clone()),
            ..ChainArgs::default()
        };
        let t = token(Some(1), 1);
        let resolved = settings(&args, &t).unwrap();
        assert_eq!(
            (resolved.chain_id.as_str(), resolved.registry.as_str()),
            ("c", "r")
        );
        let other_chain = ChainArgs {
            chain_id: Some("other".into()),
            ..args.clone()
        };
        assert!(matches!(
            settings(&other_chain, &t),
            Err(InviteError::WrongChain { .. })
        ));
        std::fs::write(&config, "rpc = \"http://127.0.0.1:1\"\nregistry = \"x\"\n").unwrap();
        assert!(matches!(
            settings(&args, &t),
            Err(InviteError::WrongContract { .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
