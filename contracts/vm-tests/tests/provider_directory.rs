//! The real provider-directory wasm in cosmwasm-vm: instantiate, every
//! execute message, queries, rejections (including a forged key proof) and
//! migrate, with gas printed.

use avpn_vm_tests::{artifact, instance, metered};
use cosmwasm_std::{Binary, ContractResult, Empty, Env, Response, from_json};
use cosmwasm_vm::testing::{MockApi, execute, instantiate, migrate, mock_env, mock_info, query};
use ed25519_dalek::{Signer, SigningKey};
use provider_directory::key_proof_bytes;
use provider_directory::msg::{
    ExecuteMsg, InstantiateMsg, MigrateMsg, Params, ProviderRecord, ProvidersResponse, QueryMsg,
};

fn ok(res: ContractResult<Response<Empty>>) -> Response<Empty> {
    res.into_result().expect("contract call failed")
}

/// Overlay key `k` (seed `[k; 32]`): its public key and its signature, by
/// key `signer`, over the proof text for `sender` on the mock chain.
fn key_and_proof(k: u8, signer: u8, sender: &str) -> (Binary, Binary) {
    let public = SigningKey::from_bytes(&[k; 32]).verifying_key().to_bytes();
    let env = mock_env();
    let msg = key_proof_bytes(
        &env.block.chain_id,
        env.contract.address.as_str(),
        sender,
        &public,
    );
    let signature = SigningKey::from_bytes(&[signer; 32]).sign(&msg);
    (
        Binary::new(public.to_vec()),
        Binary::new(signature.to_bytes().to_vec()),
    )
}

fn env_plus(secs: u64) -> Env {
    let mut env = mock_env();
    env.block.time = env.block.time.plus_seconds(secs);
    env
}

#[test]
fn provider_directory_in_the_vm() {
    let wasm = artifact("provider_directory");
    println!("provider_directory.wasm: {} bytes", wasm.len());
    let mut vm = instance(&wasm);
    let api = MockApi::default();
    let gov = api.addr_make("gov");
    let provider = api.addr_make("provider-a");
    let attacker = api.addr_make("attacker");

    let (res, gas) = metered(&mut vm, |vm| {
        instantiate(
            vm,
            mock_env(),
            mock_info(&gov, &[]),
            InstantiateMsg {
                admin: None,
                params: None,
            },
        )
    });
    ok(res);
    println!("gas instantiate: {gas}");

    let register_with = |(overlay_key, signature): (Binary, Binary)| ExecuteMsg::Register {
        overlay_key,
        signature,
        endpoints: vec!["203.0.113.1:4433".into(), "[2001:db8::1]:4433".into()],
        region: Some("eu-central".into()),
        relay: true,
    };
    // A proof signed by another key (the attacker's) is refused by the VM's ed25519.
    let (res, gas) = metered(&mut vm, |vm| {
        execute::<_, _, _, _, Empty>(
            vm,
            mock_env(),
            mock_info(&provider, &[]),
            register_with(key_and_proof(1, 9, &provider)),
        )
    });
    let err = res.into_result().unwrap_err();
    assert!(err.contains("invalid key proof"), "{err}");
    println!("gas rejected register (invalid key proof): {gas}");

    let register = register_with(key_and_proof(1, 1, &provider));
    let (res, gas) = metered(&mut vm, |vm| {
        execute(vm, mock_env(), mock_info(&provider, &[]), register.clone())
    });
    let res = ok(res);
    assert_eq!(res.events[0].ty, "register_provider");
    println!("gas register: {gas}");

    let (res, gas) = metered(&mut vm, |vm| {
        execute(
            vm,
            env_plus(5),
            mock_info(&provider, &[]),
            ExecuteMsg::Update {
                endpoints: Some(vec!["203.0.113.2:4433".into()]),
                region: None,
                relay: None,
            },
        )
    });
    ok(res);
    println!("gas update: {gas}");

    let until = env_plus(3600).block.time;
    let (new_key, new_proof) = key_and_proof(2, 2, &provider);
    let (res, gas) = metered(&mut vm, |vm| {
        execute(
            vm,
            env_plus(10),
            mock_info(&provider, &[]),
            ExecuteMsg::RotateKey {
                new_key: new_key.clone(),
                signature: new_proof.clone(),
                overlap_until: until,
            },
        )
    });
    ok(res);
    println!("gas rotate_key: {gas}");

    let (res, gas) = metered(&mut vm, |vm| {
        query(
            vm,
            env_plus(10),
            QueryMsg::Provider {
                address: provider.clone(),
            },
        )
    });
    let rec: ProviderRecord = from_json(res.into_result().unwrap()).unwrap();
    println!("gas query provider: {gas}");
    assert_eq!(rec.overlay_key, new_key);
    assert_eq!(
        rec.previous_key.map(|k| (k.key, k.valid_until)),
        Some((key_and_proof(1, 1, &provider).0, until))
    );
    assert_eq!(rec.endpoints, vec!["203.0.113.2:4433".to_string()]);
    assert_eq!(rec.region.as_deref(), Some("eu-central"));

    // Rejections from another account, with the state left as it was.
    let (res, gas) = metered(&mut vm, |vm| {
        execute::<_, _, _, _, Empty>(
            vm,
            env_plus(11),
            mock_info(&attacker, &[]),
            register.clone(),
        )
    });
    let err = res.into_result().unwrap_err();
    assert!(err.contains("invalid key proof"), "{err}");
    println!("gas rejected register (replayed proof): {gas}");
    let res = execute::<_, _, _, _, Empty>(
        &mut vm,
        env_plus(11),
        mock_info(&attacker, &[]),
        ExecuteMsg::UpdateParams {
            params: Params {
                max_endpoints: 1,
                ..Params::default()
            },
        },
    );
    assert!(res.into_result().unwrap_err().contains("unauthorized"));
    let params: Params = from_json(
        query(&mut vm, mock_env(), QueryMsg::Params {})
            .into_result()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(params, Params::default());

    let (res, gas) = metered(&mut vm, |vm| migrate(vm, env_plus(12), MigrateMsg {}));
    assert_eq!(ok(res).events[0].ty, "migrate");
    println!("gas migrate: {gas}");
    let after: ProviderRecord = from_json(
        query(
            &mut vm,
            env_plus(10),
            QueryMsg::Provider {
                address: provider.clone(),
            },
        )
        .into_result()
        .unwrap(),
    )
    .unwrap();
    assert_eq!(after.overlay_key, new_key);

    let (res, gas) = metered(&mut vm, |vm| {
        execute(
            vm,
            env_plus(13),
            mock_info(&provider, &[]),
            ExecuteMsg::Deregister {},
        )
    });
    ok(res);
    println!("gas deregister: {gas}");
    let all: ProvidersResponse = from_json(
        query(
            &mut vm,
            env_plus(13),
            QueryMsg::Providers {
                start_after: None,
                limit: None,
            },
        )
        .into_result()
        .unwrap(),
    )
    .unwrap();
    assert!(all.providers.is_empty());
}
