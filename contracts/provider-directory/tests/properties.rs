//! Property test: over random sequences of register / update / rotate_key /
//! deregister from a few accounts (keys drawn from a small pool so clashes
//! are frequent), every overlay key in the index names exactly the provider
//! holding it (as current or retired key), and no key is held twice.

use std::collections::BTreeMap;

use cosmwasm_std::testing::{MockApi, message_info, mock_dependencies, mock_env};
use cosmwasm_std::{Addr, Binary, Env, Order, Timestamp};
use ed25519_dalek::{Signer, SigningKey};
use proptest::prelude::*;
use provider_directory::contract::{execute, instantiate};
use provider_directory::key_proof_bytes;
use provider_directory::msg::{ExecuteMsg, InstantiateMsg};
use provider_directory::state::{KEY_OWNERS, PROVIDERS};

#[derive(Debug, Clone)]
enum Op {
    Register { who: usize, key: u8 },
    Update { who: usize, port: u16 },
    Rotate { who: usize, key: u8, overlap: u64 },
    Deregister { who: usize },
    Wait { secs: u64 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..4usize, 0..6u8).prop_map(|(who, key)| Op::Register { who, key }),
        (0..4usize, 0..3u16).prop_map(|(who, port)| Op::Update { who, port }),
        (0..4usize, 0..6u8, 0..200u64).prop_map(|(who, key, overlap)| Op::Rotate {
            who,
            key,
            overlap
        }),
        (0..4usize).prop_map(|who| Op::Deregister { who }),
        (1..300u64).prop_map(|secs| Op::Wait { secs }),
    ]
}

/// Pool key `k` (seed `[k; 32]`) and its proof of possession for `sender`.
fn key_and_proof(k: u8, env: &Env, sender: &Addr) -> (Binary, Binary) {
    let sk = SigningKey::from_bytes(&[k; 32]);
    let key = sk.verifying_key().to_bytes();
    let msg = key_proof_bytes(
        &env.block.chain_id,
        env.contract.address.as_str(),
        sender.as_str(),
        &key,
    );
    (
        Binary::new(key.to_vec()),
        Binary::new(sk.sign(&msg).to_bytes().to_vec()),
    )
}

proptest! {
    #[test]
    fn key_index_matches_records(ops in prop::collection::vec(op(), 1..60)) {
        let mut deps = mock_dependencies();
        deps.api = MockApi::default().with_prefix("akash");
        let accounts: Vec<Addr> = (0..4).map(|i| deps.api.addr_make(&format!("p{i}"))).collect();
        let mut env = mock_env();
        env.block.time = Timestamp::from_seconds(1_000_000);
        instantiate(deps.as_mut(), env.clone(), message_info(&accounts[0], &[]),
            InstantiateMsg { admin: None, params: None }).unwrap();

        for op in ops {
            let (who, msg) = match op {
                Op::Register { who, key } => {
                    let (overlay_key, signature) = key_and_proof(key, &env, &accounts[who]);
                    (who, ExecuteMsg::Register {
                        overlay_key,
                        signature,
                        endpoints: vec!["203.0.113.1:1".into()],
                        region: None,
                        relay: false,
                    })
                }
                Op::Update { who, port } => (who, ExecuteMsg::Update {
                    // Port 0 is rejected: some updates fail on purpose.
                    endpoints: Some(vec![format!("203.0.113.2:{port}")]),
                    region: None,
                    relay: None,
                }),
                Op::Rotate { who, key, overlap } => {
                    let (new_key, signature) = key_and_proof(key, &env, &accounts[who]);
                    (who, ExecuteMsg::RotateKey {
                        new_key,
                        signature,
                        overlap_until: env.block.time.plus_seconds(overlap),
                    })
                }
                Op::Deregister { who } => (who, ExecuteMsg::Deregister {}),
                Op::Wait { secs } => {
                    env.block.time = env.block.time.plus_seconds(secs);
                    continue;
                }
            };
            // Rejections are expected; the invariant must hold either way.
            let _ = execute(deps.as_mut(), env.clone(), message_info(&accounts[who], &[]), msg);

            let mut held: BTreeMap<Vec<u8>, Addr> = BTreeMap::new();
            for item in PROVIDERS.range(&deps.storage, None, None, Order::Ascending) {
                let (addr, p) = item.unwrap();
                let mut keys = vec![p.overlay_key.as_slice().to_vec()];
                keys.extend(p.previous_key.iter().map(|k| k.key.as_slice().to_vec()));
                for k in keys {
                    prop_assert!(held.insert(k, addr.clone()).is_none(), "key held twice");
                }
            }
            let index: BTreeMap<Vec<u8>, Addr> = KEY_OWNERS
                .range(&deps.storage, None, None, Order::Ascending)
                .map(|r| r.unwrap())
                .collect();
            prop_assert_eq!(index, held);
        }
    }
}
