//! The real provider-directory wasm in cosmwasm-vm: instantiate, every
//! execute message, queries, a rejection and migrate, with gas printed.

use avpn_vm_tests::{artifact, instance, metered};
use cosmwasm_std::{Binary, ContractResult, Empty, Env, Response, from_json};
use cosmwasm_vm::testing::{MockApi, execute, instantiate, migrate, mock_env, mock_info, query};
use provider_directory::msg::{
    ExecuteMsg, InstantiateMsg, MigrateMsg, Params, ProviderRecord, ProvidersResponse, QueryMsg,
};

fn ok(res: ContractResult<Response<Empty>>) -> Response<Empty> {
    res.into_result().expect("contract call failed")
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

    let register = ExecuteMsg::Register {
        overlay_key: Binary::new(vec![1; 32]),
        endpoints: vec!["198.18.0.1:4433".into(), "[2001:db8::1]:4433".into()],
        region: Some("eu-central".into()),
        relay: true,
    };
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
                endpoints: Some(vec!["198.18.0.2:4433".into()]),
                region: None,
                relay: None,
            },
        )
    });
    ok(res);
    println!("gas update: {gas}");

    let until = env_plus(3600).block.time;
    let (res, gas) = metered(&mut vm, |vm| {
        execute(
            vm,
            env_plus(10),
            mock_info(&provider, &[]),
            ExecuteMsg::RotateKey {
                new_key: Binary::new(vec![2; 32]),
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
    assert_eq!(rec.overlay_key, Binary::new(vec![2; 32]));
    assert_eq!(
        rec.previous_key.map(|k| (k.key, k.valid_until)),
        Some((Binary::new(vec![1; 32]), until))
    );
    assert_eq!(rec.endpoints, vec!["198.18.0.2:4433".to_string()]);
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
    assert!(err.contains("already used"), "{err}");
    println!("gas rejected register (key in use): {gas}");
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
    assert_eq!(after.overlay_key, Binary::new(vec![2; 32]));

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
