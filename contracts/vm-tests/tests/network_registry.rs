//! The real network-registry wasm in cosmwasm-vm: instantiate, executes
//! (network, members, a rejection), queries and migrate, with gas printed.

use avpn_vm_tests::{VmInstance, artifact, instance, metered};
use cosmwasm_std::{ContractResult, Empty, Response, from_json};
use cosmwasm_vm::testing::{MockApi, execute, instantiate, migrate, mock_env, mock_info, query};
use network_registry::msg::{
    ExecuteMsg, InstantiateMsg, LeaseId, MemberResponse, MigrateMsg, NetworkResponse,
    ProviderViewResponse, QueryMsg,
};
use serde::de::DeserializeOwned;

fn ok(res: ContractResult<Response<Empty>>) -> Response<Empty> {
    res.into_result().expect("contract call failed")
}

fn q<T: DeserializeOwned>(vm: &mut VmInstance, msg: QueryMsg) -> T {
    from_json(
        query(vm, mock_env(), msg)
            .into_result()
            .expect("query failed"),
    )
    .unwrap()
}

/// The value of `key` in the response's event `kind`.
fn attr(res: &Response<Empty>, kind: &str, key: &str) -> String {
    let ev = res
        .events
        .iter()
        .find(|e| e.ty == kind)
        .unwrap_or_else(|| panic!("no {kind} event: {:?}", res.events));
    ev.attributes
        .iter()
        .find(|a| a.key == key)
        .unwrap_or_else(|| panic!("no {key} in {ev:?}"))
        .value
        .clone()
}

fn lease(dseq: u64, provider: &str) -> LeaseId {
    LeaseId {
        dseq,
        gseq: 1,
        oseq: 1,
        provider: provider.to_string(),
    }
}

#[test]
fn network_registry_in_the_vm() {
    let wasm = artifact("network_registry");
    println!("network_registry.wasm: {} bytes", wasm.len());
    let mut vm = instance(&wasm);
    let api = MockApi::default();
    let gov = api.addr_make("gov");
    let tenant = api.addr_make("tenant");
    let stranger = api.addr_make("stranger");
    let p1 = api.addr_make("provider-1");
    let p2 = api.addr_make("provider-2");

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

    let (res, gas) = metered(&mut vm, |vm| {
        execute(
            vm,
            mock_env(),
            mock_info(&tenant, &[]),
            ExecuteMsg::CreateNetwork {
                name: "net-a".into(),
                cidr: "100.64.0.0/24".into(),
                cidr6: None,
                default_action: None,
                tags: vec!["web".into(), "db".into()],
                start_time: None,
                end_time: None,
            },
        )
    });
    let res = ok(res);
    println!("gas create_network: {gas}");
    let network_id: u64 = attr(&res, "create_network", "network_id").parse().unwrap();

    let add = |name: &str, dseq: u64, provider: &str, tag: &str, ip: Option<&str>| {
        ExecuteMsg::AddMember {
            network_id,
            name: name.into(),
            lease: lease(dseq, provider),
            tags: vec![tag.into()],
            service: None,
            ip: ip.map(String::from),
        }
    };
    let (res, gas) = metered(&mut vm, |vm| {
        execute(
            vm,
            mock_env(),
            mock_info(&tenant, &[]),
            add("web-1", 100, &p1, "web", None),
        )
    });
    let res = ok(res);
    println!("gas add_member: {gas}");
    assert_eq!(attr(&res, "add_member", "providers"), p1);
    let (res, gas) = metered(&mut vm, |vm| {
        execute(
            vm,
            mock_env(),
            mock_info(&tenant, &[]),
            add("db-1", 101, &p2, "db", Some("100.64.0.10")),
        )
    });
    ok(res);
    println!("gas add_member (static ip): {gas}");

    let web: MemberResponse = q(
        &mut vm,
        QueryMsg::Member {
            network_id,
            name: "web-1".into(),
        },
    );
    assert_eq!(
        web.ip, "100.64.0.2",
        "lowest free host after the reserved gateway"
    );
    let (res, gas) = metered(&mut vm, |vm| {
        query(
            vm,
            mock_env(),
            QueryMsg::MemberByIp {
                network_id,
                ip: "100.64.0.10".into(),
            },
        )
    });
    let db: MemberResponse = from_json(res.into_result().unwrap()).unwrap();
    assert_eq!(db.name, "db-1");
    println!("gas query member_by_ip: {gas}");

    // A stranger cannot add to the tenant's network; nothing changes.
    let before: NetworkResponse = q(&mut vm, QueryMsg::Network { network_id });
    let (res, gas) = metered(&mut vm, |vm| {
        execute::<_, _, _, _, Empty>(
            vm,
            mock_env(),
            mock_info(&stranger, &[]),
            add("evil", 666, &p1, "web", None),
        )
    });
    assert!(
        res.into_result()
            .unwrap_err()
            .to_lowercase()
            .contains("unauthorized")
    );
    println!("gas rejected add_member (stranger): {gas}");
    assert_eq!(
        q::<NetworkResponse>(&mut vm, QueryMsg::Network { network_id }),
        before
    );

    // Rebind keeps the IP on another provider.
    let (res, gas) = metered(&mut vm, |vm| {
        execute(
            vm,
            mock_env(),
            mock_info(&tenant, &[]),
            ExecuteMsg::RebindMember {
                network_id,
                name: "web-1".into(),
                lease: lease(200, &p2),
            },
        )
    });
    ok(res);
    println!("gas rebind_member: {gas}");
    let web: MemberResponse = q(
        &mut vm,
        QueryMsg::Member {
            network_id,
            name: "web-1".into(),
        },
    );
    assert_eq!(
        (web.ip.as_str(), web.lease.provider.as_str()),
        ("100.64.0.2", p2.as_str())
    );

    let (res, gas) = metered(&mut vm, |vm| {
        execute(
            vm,
            mock_env(),
            mock_info(&tenant, &[]),
            ExecuteMsg::RemoveMember {
                network_id,
                name: "db-1".into(),
            },
        )
    });
    ok(res);
    println!("gas remove_member: {gas}");

    let view: ProviderViewResponse = q(
        &mut vm,
        QueryMsg::ProviderView {
            provider: p2.clone(),
            start_after: None,
            limit: None,
        },
    );
    assert_eq!(view.networks.len(), 1);
    let net: NetworkResponse = q(&mut vm, QueryMsg::Network { network_id });
    assert_eq!(view.networks[0].revision, net.revision);
    assert_eq!(net.member_count, 1);

    let (res, gas) = metered(&mut vm, |vm| migrate(vm, mock_env(), MigrateMsg {}));
    ok(res);
    println!("gas migrate: {gas}");
    assert_eq!(
        q::<NetworkResponse>(&mut vm, QueryMsg::Network { network_id }),
        net
    );
}
