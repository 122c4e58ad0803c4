//! The real network-registry wasm in cosmwasm-vm: instantiate, executes
//! (network, members, rejections), queries and migrate with gas printed;
//! the tenant-isolation attacks that matter most, refused by the real VM
//! with nothing changed; and the gas of the bounded operations at the
//! largest network the params allow (16,384 members), in Cosmos SDK gas
//! against the budgets of [`sdk_gas`] (run with `--nocapture` to see them).

use std::time::Instant;

use avpn_vm_tests::{
    SdkInstance, VmInstance, artifact, event_gas, instance, metered, sdk_gas, sdk_instance,
    sdk_metered,
};
use cosmwasm_std::{Binary, ContractResult, Empty, Response, from_json};
use cosmwasm_vm::testing::{MockApi, execute, instantiate, migrate, mock_env, mock_info, query};
use ed25519_dalek::{Signer, SigningKey};
use network_registry::claim_bytes;
use network_registry::msg::{
    Action, ExecuteMsg, InstantiateMsg, KeyType, LeaseId, LeaseMembersResponse, ManifestResponse,
    MemberResponse, MembersResponse, MigrateMsg, NetworkProvidersResponse, NetworkResponse,
    ParticipantsResponse, Peers, Policy, PortRange, Protocol, ProviderViewResponse, QueryMsg, Rule,
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

/// A lease (gseq 1, oseq 1, bseq 0) of `owner` on `provider`.
fn lease(owner: &str, dseq: u64, provider: &str) -> LeaseId {
    LeaseId {
        owner: owner.to_string(),
        dseq,
        gseq: 1,
        oseq: 1,
        provider: provider.to_string(),
        bseq: 0,
    }
}

/// `add_member` of a lease of `adder`.
fn add(
    network_id: u64,
    adder: &str,
    name: &str,
    dseq: u64,
    provider: &str,
    tags: &[&str],
    ip: Option<&str>,
) -> ExecuteMsg {
    ExecuteMsg::AddMember {
        network_id,
        name: name.into(),
        lease: lease(adder, dseq, provider),
        tags: tags.iter().map(|t| t.to_string()).collect(),
        service: None,
        ip: ip.map(String::from),
        weight: None,
    }
}

/// The claim `claimant` sends for `invitation_id`, signed with `key`
/// over the bytes of the mock chain and contract.
fn claim(network_id: u64, invitation_id: u64, key: &SigningKey, claimant: &str) -> ExecuteMsg {
    let env = mock_env();
    let bytes = claim_bytes(
        &env.block.chain_id,
        &env.contract.address,
        network_id,
        invitation_id,
        &cosmwasm_std::Addr::unchecked(claimant),
    );
    ExecuteMsg::ClaimInvitation {
        network_id,
        invitation_id,
        signature: Binary::new(key.sign(&bytes).to_bytes().to_vec()),
    }
}

fn invitation(network_id: u64, key: &SigningKey, max_uses: u32, tags: &[&str]) -> ExecuteMsg {
    ExecuteMsg::CreateInvitation {
        network_id,
        pubkey: Binary::new(key.verifying_key().to_bytes().to_vec()),
        key_type: KeyType::Ed25519,
        expires: mock_env().block.time.plus_seconds(3600),
        max_uses,
        tags: tags.iter().map(|t| t.to_string()).collect(),
        max_members: None,
    }
}

fn exec(vm: &mut VmInstance, sender: &str, msg: ExecuteMsg) -> ContractResult<Response<Empty>> {
    execute(vm, mock_env(), mock_info(sender, &[]), msg)
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
        exec(
            vm,
            &tenant,
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

    let (res, gas) = metered(&mut vm, |vm| {
        exec(
            vm,
            &tenant,
            add(network_id, &tenant, "web-1", 100, &p1, &["web"], None),
        )
    });
    let res = ok(res);
    println!("gas add_member: {gas}");
    assert_eq!(attr(&res, "add_member", "providers"), p1);
    let (res, gas) = metered(&mut vm, |vm| {
        exec(
            vm,
            &tenant,
            add(
                network_id,
                &tenant,
                "db-1",
                101,
                &p2,
                &["db"],
                Some("100.64.0.10"),
            ),
        )
    });
    ok(res);
    println!("gas add_member (static ip): {gas}");

    // A replica weight through the real wasm: refused out of range, else in
    // the event and the query; the member is removed again.
    let weighted = |w: u32| ExecuteMsg::AddMember {
        network_id,
        name: "api-1".into(),
        lease: lease(&tenant, 102, &p2),
        tags: vec![],
        service: Some("api".into()),
        ip: None,
        weight: Some(w),
    };
    let err = exec(&mut vm, &tenant, weighted(60_001))
        .into_result()
        .unwrap_err();
    assert!(err.contains("weight 60001 is outside 0..=60000"), "{err}");
    let res = ok(exec(&mut vm, &tenant, weighted(250)));
    assert_eq!(attr(&res, "add_member", "weight"), "250");
    let api: MemberResponse = q(
        &mut vm,
        QueryMsg::Member {
            network_id,
            name: "api-1".into(),
        },
    );
    assert_eq!(api.weight, Some(250));
    ok(exec(
        &mut vm,
        &tenant,
        ExecuteMsg::RemoveMember {
            network_id,
            name: "api-1".into(),
        },
    ));

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
    assert_eq!(web.lease, lease(&tenant, 100, &p1));
    assert_eq!(web.weight, None);
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
    let (res, gas) = metered(&mut vm, |vm| {
        query(
            vm,
            mock_env(),
            QueryMsg::MembersByLease {
                lease: lease(&tenant, 100, &p1),
                start_after: None,
                limit: None,
            },
        )
    });
    let found: LeaseMembersResponse = from_json(res.into_result().unwrap()).unwrap();
    assert_eq!(found.members.len(), 1);
    assert_eq!(found.members[0].name, "web-1");
    println!("gas query members_by_lease: {gas}");

    // A stranger cannot add to the tenant's network; nothing changes.
    let before: NetworkResponse = q(&mut vm, QueryMsg::Network { network_id });
    let (res, gas) = metered(&mut vm, |vm| {
        exec(
            vm,
            &stranger,
            add(network_id, &stranger, "evil", 666, &p1, &["web"], None),
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
        exec(
            vm,
            &tenant,
            ExecuteMsg::RebindMember {
                network_id,
                name: "web-1".into(),
                lease: lease(&tenant, 200, &p2),
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
        exec(
            vm,
            &tenant,
            ExecuteMsg::RemoveMember {
                network_id,
                name: "db-1".into(),
            },
        )
    });
    ok(res);
    println!("gas remove_member: {gas}");

    let (res, gas) = metered(&mut vm, |vm| {
        query(
            vm,
            mock_env(),
            QueryMsg::Manifest {
                network_id,
                start_after: None,
                limit: None,
            },
        )
    });
    let page: ManifestResponse = from_json(res.into_result().unwrap()).unwrap();
    assert_eq!(page.manifest.members.len(), 1);
    assert_eq!(page.next_start_after, None);
    println!("gas query manifest: {gas}");

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

    // Close, then anyone purges what is left.
    let (res, gas) = metered(&mut vm, |vm| {
        exec(vm, &tenant, ExecuteMsg::CloseNetwork { network_id })
    });
    let res = ok(res);
    assert_eq!(attr(&res, "close_network", "remaining"), "false");
    println!("gas close_network (1 member): {gas}");
    let (res, gas) = metered(&mut vm, |vm| {
        exec(
            vm,
            &stranger,
            ExecuteMsg::PurgeNetwork {
                network_id,
                limit: None,
            },
        )
    });
    let res = ok(res);
    assert_eq!(attr(&res, "purge_network", "remaining"), "false");
    println!("gas purge_network (nothing left): {gas}");
}

/// Everything the queries show about a network (and the leases probed).
fn dump(vm: &mut VmInstance, network_id: u64, probes: &[LeaseId]) -> String {
    let net: NetworkResponse = q(vm, QueryMsg::Network { network_id });
    let members: MembersResponse = q(
        vm,
        QueryMsg::Members {
            network_id,
            start_after: None,
            limit: Some(100),
        },
    );
    let manifest: ManifestResponse = q(
        vm,
        QueryMsg::Manifest {
            network_id,
            start_after: None,
            limit: Some(100),
        },
    );
    let participants: ParticipantsResponse = q(
        vm,
        QueryMsg::Participants {
            network_id,
            start_after: None,
            limit: None,
        },
    );
    let invitations: network_registry::msg::InvitationsResponse = q(
        vm,
        QueryMsg::Invitations {
            network_id,
            start_after: None,
            limit: None,
        },
    );
    let providers: NetworkProvidersResponse = q(
        vm,
        QueryMsg::Providers {
            network_id,
            start_after: None,
            limit: None,
        },
    );
    let by_lease: Vec<LeaseMembersResponse> = members
        .members
        .iter()
        .map(|m| m.lease.clone())
        .chain(probes.iter().cloned())
        .map(|lease| {
            q(
                vm,
                QueryMsg::MembersByLease {
                    lease,
                    start_after: None,
                    limit: None,
                },
            )
        })
        .collect();
    format!(
        "{net:?}\n{members:?}\n{manifest:?}\n{participants:?}\n{invitations:?}\n{providers:?}\n{by_lease:?}"
    )
}

/// Sends an attack; expects the VM to refuse it with `expected` in the
/// error and every query answer about the networks unchanged.
fn refused(
    vm: &mut VmInstance,
    networks: &[u64],
    sender: &str,
    msg: ExecuteMsg,
    probes: &[LeaseId],
    expected: &str,
) {
    let before: Vec<String> = networks.iter().map(|id| dump(vm, *id, probes)).collect();
    let (res, gas) = metered(vm, |vm| exec(vm, sender, msg));
    let err = res.into_result().expect_err("attack accepted");
    assert!(err.contains(expected), "expected {expected:?}, got {err}");
    let after: Vec<String> = networks.iter().map(|id| dump(vm, *id, probes)).collect();
    assert_eq!(before, after, "refused attack changed a query answer");
    println!("refused ({expected}): gas {gas}");
}

#[test]
fn tenant_isolation_attacks_in_the_vm() {
    let wasm = artifact("network_registry");
    let mut vm = instance(&wasm);
    let api = MockApi::default();
    let gov = api.addr_make("gov");
    let tenant = api.addr_make("tenant");
    let bob = api.addr_make("bob");
    let mallory = api.addr_make("mallory");
    let p1 = api.addr_make("provider-1");
    ok(instantiate(
        &mut vm,
        mock_env(),
        mock_info(&gov, &[]),
        InstantiateMsg {
            admin: None,
            params: None,
        },
    ));
    let create = |name: &str| ExecuteMsg::CreateNetwork {
        name: name.into(),
        cidr: "100.64.0.0/24".into(),
        cidr6: None,
        default_action: None,
        tags: vec!["web".into(), "db".into()],
        start_time: None,
        end_time: None,
    };
    let res = ok(exec(&mut vm, &tenant, create("a")));
    let a: u64 = attr(&res, "create_network", "network_id").parse().unwrap();
    ok(exec(
        &mut vm,
        &tenant,
        add(a, &tenant, "web-1", 1001, &p1, &["web"], None),
    ));
    ok(exec(
        &mut vm,
        &tenant,
        ExecuteMsg::AuthorizeProvider {
            network_id: a,
            provider: p1.clone(),
        },
    ));
    let key = SigningKey::from_bytes(&[7; 32]);
    let res = ok(exec(&mut vm, &tenant, invitation(a, &key, 2, &["web"])));
    let inv: u64 = attr(&res, "create_invitation", "invitation_id")
        .parse()
        .unwrap();
    let bobs_claim = claim(a, inv, &key, &bob);
    ok(exec(&mut vm, &bob, bobs_claim.clone()));
    ok(exec(
        &mut vm,
        &bob,
        add(a, &bob, "bob-web", 2001, &p1, &["web"], None),
    ));
    let res = ok(exec(&mut vm, &mallory, create("b")));
    let b: u64 = attr(&res, "create_network", "network_id").parse().unwrap();
    let tenants_lease = lease(&tenant, 1001, &p1);

    // Lease owner mismatch: a participant, and another tenant in its own
    // network, naming the tenant's lease.
    refused(
        &mut vm,
        &[a, b],
        &bob,
        add(a, &tenant, "bob-2", 1001, &p1, &["web"], None),
        std::slice::from_ref(&tenants_lease),
        "is not the sender",
    );
    refused(
        &mut vm,
        &[a, b],
        &mallory,
        add(b, &tenant, "stolen", 1001, &p1, &["web"], None),
        std::slice::from_ref(&tenants_lease),
        "is not the sender",
    );
    refused(
        &mut vm,
        &[a, b],
        &bob,
        ExecuteMsg::RebindMember {
            network_id: a,
            name: "bob-web".into(),
            lease: tenants_lease.clone(),
        },
        std::slice::from_ref(&tenants_lease),
        "is not the sender",
    );
    // A participant's static address.
    refused(
        &mut vm,
        &[a],
        &bob,
        add(a, &bob, "fixed", 2002, &p1, &["web"], Some("100.64.0.50")),
        &[],
        "static addresses",
    );
    // A removed participant replays its claim (the invitation has a use left).
    ok(exec(
        &mut vm,
        &tenant,
        ExecuteMsg::RemoveParticipant {
            network_id: a,
            participant: bob.clone(),
        },
    ));
    refused(&mut vm, &[a], &bob, bobs_claim, &[], "already claimed");
    // The tenant's lease still maps to the tenant's member only.
    let found: LeaseMembersResponse = q(
        &mut vm,
        QueryMsg::MembersByLease {
            lease: tenants_lease,
            start_after: None,
            limit: None,
        },
    );
    assert_eq!(found.members.len(), 1);
    assert_eq!(
        (found.members[0].network_id, found.members[0].name.as_str()),
        (a, "web-1")
    );
}

// ---------------------------------------------------------------------------
// Gas at 16,384 members
// ---------------------------------------------------------------------------

/// Members of the large network (the default `max_members_per_network`).
const MEMBERS: u32 = 16_384;
/// Of which the participant holds its full default quota.
const PARTICIPANT_MEMBERS: u32 = 128;
const PROVIDERS: usize = 8;

/// A policy like a real member's: ingress from two tags on a port range,
/// from a few named members, egress to one CIDR; two tags referenced.
fn member_policy(i: u32) -> Policy {
    Policy {
        ingress: vec![
            Rule {
                peers: Peers::Tags(vec!["web".into(), "app".into()]),
                protocol: Protocol::Tcp,
                ports: Some(PortRange {
                    start: 8000,
                    end: 8100,
                }),
                action: Action::Allow,
            },
            Rule {
                peers: Peers::Members(vec![
                    format!("m{:05}", (i + 1) % MEMBERS),
                    format!("m{:05}", (i + 2) % MEMBERS),
                ]),
                protocol: Protocol::Any,
                ports: None,
                action: Action::Allow,
            },
        ],
        egress: vec![Rule {
            peers: Peers::Cidrs(vec!["100.64.0.0/20".into()]),
            protocol: Protocol::Udp,
            ports: Some(PortRange { start: 53, end: 53 }),
            action: Action::Allow,
        }],
    }
}

/// Builds the large network by running the contract natively (the same
/// code as the wasm, so byte-identical storage) — 16,384 × 2 executes
/// through the VM would take minutes in a debug build — and loads the
/// records into a fresh VM instance's storage. Returns the instance, the
/// network id and the accounts.
fn large_network(wasm: &[u8]) -> (SdkInstance, u64, Accounts) {
    use cosmwasm_std::testing::{message_info, mock_dependencies, mock_env as native_env};
    use network_registry::contract as native;

    let started = Instant::now();
    let mut deps = mock_dependencies();
    let api = deps.api;
    let accounts = Accounts {
        tenant: api.addr_make("tenant").to_string(),
        bob: api.addr_make("bob").to_string(),
        stranger: api.addr_make("stranger").to_string(),
        providers: (0..PROVIDERS)
            .map(|i| api.addr_make(&format!("provider-{i}")).to_string())
            .collect(),
    };
    let env = native_env();
    assert_eq!(env.contract.address, mock_env().contract.address);
    let run = |deps: &mut cosmwasm_std::OwnedDeps<_, _, _>, sender: &str, msg: ExecuteMsg| {
        native::execute(
            deps.as_mut(),
            env.clone(),
            message_info(&cosmwasm_std::Addr::unchecked(sender), &[]),
            msg,
        )
        .unwrap_or_else(|e| panic!("native setup: {e}"))
    };
    native::instantiate(
        deps.as_mut(),
        env.clone(),
        message_info(&api.addr_make("gov"), &[]),
        InstantiateMsg {
            admin: None,
            params: None,
        },
    )
    .unwrap();
    let res = run(
        &mut deps,
        &accounts.tenant,
        ExecuteMsg::CreateNetwork {
            name: "large".into(),
            cidr: "100.64.0.0/17".into(),
            cidr6: Some("fd00:64::/64".into()),
            default_action: None,
            tags: vec!["web".into(), "db".into(), "app".into()],
            start_time: None,
            end_time: None,
        },
    );
    let id: u64 = res.attributes[0].value.parse().unwrap();
    for p in &accounts.providers {
        run(
            &mut deps,
            &accounts.tenant,
            ExecuteMsg::AuthorizeProvider {
                network_id: id,
                provider: p.clone(),
            },
        );
    }
    let key = SigningKey::from_bytes(&[3; 32]);
    run(
        &mut deps,
        &accounts.tenant,
        invitation(id, &key, 1, &["app"]),
    );
    run(&mut deps, &accounts.bob, claim(id, 1, &key, &accounts.bob));
    for i in 0..MEMBERS {
        let (adder, tags) = if i % (MEMBERS / PARTICIPANT_MEMBERS) == 0 {
            (&accounts.bob, &["app"][..])
        } else {
            (&accounts.tenant, &["web"][..])
        };
        let name = format!("m{i:05}");
        run(
            &mut deps,
            adder,
            ExecuteMsg::AddMember {
                network_id: id,
                name: name.clone(),
                lease: lease(
                    adder,
                    1_000_000 + u64::from(i),
                    &accounts.providers[i as usize % PROVIDERS],
                ),
                tags: tags.iter().map(|t| t.to_string()).collect(),
                // A service is joined only by its first replica's adder.
                service: Some(
                    if adder == &accounts.bob {
                        "bob-svc"
                    } else {
                        "svc"
                    }
                    .into(),
                ),
                ip: None,
                weight: None,
            },
        );
        let mut policy = member_policy(i);
        if adder == &accounts.bob {
            // A participant references only its granted tag.
            policy.ingress[0].peers = Peers::Tags(vec!["app".into()]);
        }
        run(
            &mut deps,
            adder,
            ExecuteMsg::SetPolicy {
                network_id: id,
                name,
                policy,
            },
        );
    }
    let records: Vec<(Vec<u8>, Vec<u8>)> =
        cosmwasm_std::Storage::range(&deps.storage, None, None, cosmwasm_std::Order::Ascending)
            .collect();
    let mut vm = sdk_instance(wasm);
    let n = records.len();
    vm.with_storage(|s| {
        s.load(records);
        Ok(())
    })
    .unwrap();
    println!(
        "large network: {MEMBERS} members ({PARTICIPANT_MEMBERS} of a participant), \
         {PROVIDERS} providers, a policy each; {n} records, built in {:.1?}",
        started.elapsed()
    );
    (vm, id, accounts)
}

struct Accounts {
    tenant: String,
    bob: String,
    stranger: String,
    providers: Vec<String>,
}

fn sdk_exec(vm: &mut SdkInstance, sender: &str, msg: ExecuteMsg) -> (Response<Empty>, u64) {
    let (res, mut gas) = sdk_metered(vm, |vm| {
        execute::<_, _, _, _, Empty>(vm, mock_env(), mock_info(sender, &[]), msg)
    });
    let res = res.into_result().expect("execute refused");
    gas.events = event_gas(&res.attributes, &res.events);
    println!("    {gas}");
    (res, gas.total())
}

fn sdk_query<T: DeserializeOwned>(vm: &mut SdkInstance, msg: QueryMsg) -> (T, u64) {
    let (res, gas) = sdk_metered(vm, |vm| query(vm, mock_env(), msg));
    let value = from_json(res.into_result().expect("query refused")).unwrap();
    println!("    {gas}");
    (value, gas.total())
}

#[test]
fn gas_of_bounded_operations_at_16384_members() {
    let wasm = artifact("network_registry");
    let (mut vm, id, acc) = large_network(&wasm);
    let net: (NetworkResponse, u64) = sdk_query(&mut vm, QueryMsg::Network { network_id: id });
    assert_eq!(net.0.member_count, MEMBERS);

    // One page of the manifest (limit 100, the maximum), with policies,
    // at the start and in the middle.
    let mut worst_page = 0;
    for start_after in [None, Some(format!("m{:05}", MEMBERS / 2))] {
        println!("query manifest (limit 100, start_after {start_after:?}):");
        let (page, gas): (ManifestResponse, u64) = sdk_query(
            &mut vm,
            QueryMsg::Manifest {
                network_id: id,
                start_after,
                limit: Some(100),
            },
        );
        assert_eq!(page.manifest.members.len(), 100);
        assert!(page.next_start_after.is_some());
        assert!(
            page.manifest
                .members
                .iter()
                .all(|m| !m.policy.ingress.is_empty())
        );
        worst_page = worst_page.max(gas);
    }

    // The participant holding its full quota is removed.
    println!("remove_participant ({PARTICIPANT_MEMBERS} members of {MEMBERS}):");
    let (res, remove_gas) = sdk_exec(
        &mut vm,
        &acc.tenant,
        ExecuteMsg::RemoveParticipant {
            network_id: id,
            participant: acc.bob.clone(),
        },
    );
    assert_eq!(
        attr(&res, "remove_participant", "removed_members"),
        PARTICIPANT_MEMBERS.to_string()
    );
    let (net, _): (NetworkResponse, u64) = sdk_query(&mut vm, QueryMsg::Network { network_id: id });
    let left = net.member_count;
    assert_eq!(left, MEMBERS - PARTICIPANT_MEMBERS);

    // Close (O(1) plus a first batch), then purge until nothing is left.
    println!("close_network ({left} members):");
    let (res, close_gas) = sdk_exec(
        &mut vm,
        &acc.tenant,
        ExecuteMsg::CloseNetwork { network_id: id },
    );
    assert_eq!(attr(&res, "close_network", "remaining"), "true");
    let mut purge_gas = Vec::new();
    loop {
        println!("purge_network #{} (limit 500):", purge_gas.len() + 1);
        let (res, gas) = sdk_exec(
            &mut vm,
            &acc.stranger,
            ExecuteMsg::PurgeNetwork {
                network_id: id,
                limit: None,
            },
        );
        purge_gas.push(gas);
        if attr(&res, "purge_network", "remaining") == "false" {
            break;
        }
        assert!(purge_gas.len() < 200, "purge does not finish");
    }
    // Only the network record, the owner index and the claim stay.
    let records = vm.with_storage(|s| Ok(s.records())).unwrap();
    let id_key = id.to_be_bytes();
    let left_records = records
        .iter()
        .filter(|(k, _)| k.windows(8).any(|w| w == id_key))
        .count();
    assert_eq!(left_records, 3, "records of the network left after purge");
    let max_purge = *purge_gas.iter().max().unwrap();
    let total_purge: u64 = purge_gas.iter().sum();

    println!(
        "--- summary (SDK gas; budgets: execute {}, query {})",
        sdk_gas::TX_BUDGET,
        sdk_gas::QUERY_LIMIT
    );
    println!("manifest page (100 members with policies): {worst_page}");
    println!(
        "remove_participant ({PARTICIPANT_MEMBERS} members): {remove_gas} ({} per member)",
        remove_gas / u64::from(PARTICIPANT_MEMBERS)
    );
    println!("close_network ({left} members): {close_gas}");
    println!(
        "purge_network: {} calls, max {max_purge}, min {}, total {total_purge}",
        purge_gas.len(),
        purge_gas.iter().min().unwrap()
    );
    assert!(
        worst_page < sdk_gas::QUERY_LIMIT,
        "manifest page {worst_page}"
    );
    for (what, gas) in [
        ("remove_participant", remove_gas),
        ("close_network", close_gas),
        ("purge_network", max_purge),
    ] {
        assert!(gas < sdk_gas::TX_BUDGET, "{what}: {gas} SDK gas");
    }
}
