//! The token's key against the real contract code (mock chain, no node):
//! an invitation created with the public key of a fresh [`InviteKey`] is
//! claimed with the key carried through a token, signing the claim bytes
//! exactly as the contract checks them.

use avpn_tenant_cli::invite::keys::{Claim, InviteKey};
use avpn_tenant_cli::invite::token::Token;
use cosmwasm_std::testing::{MockApi, MockQuerier, MockStorage, message_info, mock_env};
use cosmwasm_std::{Binary, Empty, OwnedDeps, Response, from_json};
use network_registry::contract::{execute, instantiate, query};
use network_registry::msg::{ExecuteMsg, InstantiateMsg, KeyType, ParticipantsResponse, QueryMsg};

type Deps = OwnedDeps<MockStorage, MockApi, MockQuerier, Empty>;

fn attribute(res: &Response, key: &str) -> String {
    res.events
        .iter()
        .flat_map(|e| &e.attributes)
        .find(|a| a.key == key)
        .map(|a| a.value.clone())
        .unwrap()
}

#[test]
fn a_token_key_claims_on_the_contract() {
    let mut deps: Deps = OwnedDeps {
        storage: MockStorage::default(),
        api: MockApi::default().with_prefix("akash"),
        querier: MockQuerier::default(),
        custom_query_type: std::marker::PhantomData,
    };
    let env = mock_env();
    let gov = deps.api.addr_make("gov");
    let owner = deps.api.addr_make("tenant");
    let invitee = deps.api.addr_make("tenant-b");
    let other = deps.api.addr_make("mallory");
    instantiate(
        deps.as_mut(),
        env.clone(),
        message_info(&gov, &[]),
        InstantiateMsg {
            admin: None,
            params: None,
        },
    )
    .unwrap();
    let res = execute(
        deps.as_mut(),
        env.clone(),
        message_info(&owner, &[]),
        ExecuteMsg::CreateNetwork {
            name: "partners".into(),
            cidr: "100.64.0.0/24".into(),
            cidr6: None,
            default_action: None,
            tags: vec!["web".into()],
            start_time: None,
            end_time: None,
        },
    )
    .unwrap();
    let network_id: u64 = attribute(&res, "network_id").parse().unwrap();
    let key = InviteKey::generate().unwrap();
    let res = execute(
        deps.as_mut(),
        env.clone(),
        message_info(&owner, &[]),
        ExecuteMsg::CreateInvitation {
            network_id,
            pubkey: Binary::from(key.public_key().to_vec()),
            key_type: KeyType::Ed25519,
            expires: env.block.time.plus_seconds(3600),
            max_uses: 2,
            tags: vec!["web".into()],
            max_members: Some(2),
        },
    )
    .unwrap();
    let invitation_id: u64 = attribute(&res, "invitation_id").parse().unwrap();

    // Through a token and back.
    let text = Token {
        chain_id: env.block.chain_id.clone(),
        registry: env.contract.address.to_string(),
        network_id,
        invitation_id: Some(invitation_id),
        key,
    }
    .encode()
    .unwrap();
    let token = Token::decode(&text).unwrap();
    let claim = |claimant: &str| {
        token.key.sign_claim(&Claim {
            chain_id: &token.chain_id,
            contract: &token.registry,
            network_id: token.network_id,
            invitation_id: token.invitation_id.unwrap(),
            claimant,
        })
    };
    let msg = |signature: [u8; 64]| ExecuteMsg::ClaimInvitation {
        network_id,
        invitation_id,
        signature: Binary::from(signature.to_vec()),
    };

    // A signature made for the invitee does not work for anyone else.
    let stolen = msg(claim(invitee.as_str()));
    assert!(
        execute(
            deps.as_mut(),
            env.clone(),
            message_info(&other, &[]),
            stolen.clone()
        )
        .is_err()
    );
    execute(
        deps.as_mut(),
        env.clone(),
        message_info(&invitee, &[]),
        stolen,
    )
    .unwrap();

    let bin = query(
        deps.as_ref(),
        env.clone(),
        QueryMsg::Participants {
            network_id,
            start_after: None,
            limit: None,
        },
    )
    .unwrap();
    let participants: ParticipantsResponse = from_json(bin).unwrap();
    assert_eq!(participants.participants.len(), 1);
    assert_eq!(participants.participants[0].address, invitee);
    assert_eq!(participants.participants[0].tags, vec!["web".to_owned()]);
    assert_eq!(participants.participants[0].max_members, 2);
}
