//! cw-multi-test scenarios: the contract inside an app with real bech32
//! `akash` addresses, driven the way tenants, invitees and governance would,
//! including attacks. Events are checked as the chain shows them
//! (`wasm-<action>`); every rejected message is checked to leave a full
//! dump of the contract's queries unchanged.

use cosmwasm_std::{Addr, Binary, Empty, Timestamp};
use cw_multi_test::{
    App, AppBuilder, AppResponse, Contract, ContractWrapper, Executor, MockApiBech32, no_init,
};
use ed25519_dalek::Signer as _;
use network_registry::claim_bytes;
use network_registry::contract::{execute, instantiate, migrate, query};
use network_registry::error::ContractError;
use network_registry::msg::{
    Action, ExecuteMsg, InstantiateMsg, InvitationsResponse, KeyType, LeaseId, LeaseMember,
    LeaseMembersResponse, MAX_WEIGHT, Manifest, ManifestMember, ManifestResponse, MemberResponse,
    MembersResponse, MigrateMsg, NetworkProvidersResponse, NetworkResponse, NetworkStatus,
    NetworksResponse, Params, ParticipantsResponse, Peers, Policy, PortRange, Protocol,
    ProviderViewResponse, QueryMsg, Rule,
};

type TestApp = App<cw_multi_test::BankKeeper, MockApiBech32>;

fn contract() -> Box<dyn Contract<Empty>> {
    Box::new(ContractWrapper::new(execute, instantiate, query).with_migrate(migrate))
}

struct World {
    app: TestApp,
    addr: Addr,
    gov: Addr,
    tenant: Addr,
    bob: Addr,
    mallory: Addr,
    providers: [Addr; 3],
    code_id: u64,
}

fn world() -> World {
    let mut app = AppBuilder::default()
        .with_api(MockApiBech32::new("akash"))
        .build(no_init);
    let gov = app.api().addr_make("gov");
    let code_id = app.store_code(contract());
    let addr = app
        .instantiate_contract(
            code_id,
            gov.clone(),
            &InstantiateMsg {
                admin: None,
                params: None,
            },
            &[],
            "network-registry",
            Some(gov.to_string()),
        )
        .unwrap();
    let a = |n: &str| app.api().addr_make(n);
    World {
        tenant: a("tenant"),
        bob: a("bob"),
        mallory: a("mallory"),
        providers: [a("provider-1"), a("provider-2"), a("provider-3")],
        app,
        addr,
        gov,
        code_id,
    }
}

/// A lease (gseq 1, oseq 1, bseq 0) of `owner`.
fn lease(owner: &Addr, dseq: u64, provider: &Addr) -> LeaseId {
    LeaseId {
        owner: owner.to_string(),
        dseq,
        gseq: 1,
        oseq: 1,
        provider: provider.to_string(),
        bseq: 0,
    }
}

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// The `wasm-<action>` event of a response and its attribute `key`.
fn wasm_attr(res: &AppResponse, action: &str, key: &str) -> String {
    let ev = res
        .events
        .iter()
        .find(|e| e.ty == format!("wasm-{action}"))
        .unwrap_or_else(|| panic!("no wasm-{action} in {:?}", res.events));
    ev.attributes
        .iter()
        .find(|a| a.key == key)
        .unwrap_or_else(|| panic!("no {key} in {ev:?}"))
        .value
        .clone()
}

impl World {
    fn exec(&mut self, sender: &Addr, msg: &ExecuteMsg) -> cosmwasm_std::StdResult<AppResponse> {
        self.app
            .execute_contract(sender.clone(), self.addr.clone(), msg, &[])
    }

    fn ok(&mut self, sender: &Addr, msg: &ExecuteMsg) -> AppResponse {
        let sender = sender.clone();
        self.exec(&sender, msg)
            .unwrap_or_else(|e| panic!("{msg:?} rejected: {e}"))
    }

    fn q<T: serde::de::DeserializeOwned>(&self, msg: &QueryMsg) -> T {
        self.app.wrap().query_wasm_smart(&self.addr, msg).unwrap()
    }

    /// Everything the queries show about network `id` and the providers.
    fn dump(&self, id: u64) -> String {
        let net: NetworkResponse = self.q(&QueryMsg::Network { network_id: id });
        let members: MembersResponse = self.q(&QueryMsg::Members {
            network_id: id,
            start_after: None,
            limit: Some(100),
        });
        let policies: Vec<Policy> = members
            .members
            .iter()
            .map(|m| {
                self.q(&QueryMsg::Policy {
                    network_id: id,
                    name: m.name.clone(),
                })
            })
            .collect();
        let manifest = self.manifest(id);
        let invitations: InvitationsResponse = self.q(&QueryMsg::Invitations {
            network_id: id,
            start_after: None,
            limit: None,
        });
        let participants: ParticipantsResponse = self.q(&QueryMsg::Participants {
            network_id: id,
            start_after: None,
            limit: None,
        });
        let providers: NetworkProvidersResponse = self.q(&QueryMsg::Providers {
            network_id: id,
            start_after: None,
            limit: None,
        });
        let views: Vec<ProviderViewResponse> = self
            .providers
            .iter()
            .chain([&self.mallory])
            .map(|p| {
                self.q(&QueryMsg::ProviderView {
                    provider: p.to_string(),
                    start_after: None,
                    limit: None,
                })
            })
            .collect();
        let owned: NetworksResponse = self.q(&QueryMsg::NetworksByOwner {
            owner: self.tenant.to_string(),
            start_after: None,
            limit: None,
        });
        let params: Params = self.q(&QueryMsg::Params {});
        let by_lease: Vec<Vec<LeaseMember>> = members
            .members
            .iter()
            .map(|m| self.by_lease(&m.lease))
            .collect();
        format!(
            "{net:?}\n{members:?}\n{policies:?}\n{manifest:?}\n{invitations:?}\n\
             {participants:?}\n{providers:?}\n{views:?}\n{owned:?}\n{params:?}\n{by_lease:?}"
        )
    }

    /// Expects `msg` from `sender` to fail and change nothing visible.
    fn reject(&mut self, sender: &Addr, id: u64, msg: &ExecuteMsg) -> String {
        let before = self.dump(id);
        let sender = sender.clone();
        let err = self.exec(&sender, msg).expect_err("message accepted");
        assert_eq!(before, self.dump(id), "rejected {msg:?} changed state");
        format!("{err:#}")
    }

    fn create(&mut self, name: &str) -> u64 {
        let tenant = self.tenant.clone();
        let res = self.ok(
            &tenant,
            &ExecuteMsg::CreateNetwork {
                name: name.into(),
                cidr: "100.64.0.0/24".into(),
                cidr6: Some("fd00:1::/64".into()),
                default_action: None,
                tags: strings(&["web", "db"]),
                start_time: None,
                end_time: None,
            },
        );
        wasm_attr(&res, "create_network", "network_id")
            .parse()
            .unwrap()
    }

    fn claim(&self, id: u64, inv: u64, key: &ed25519_dalek::SigningKey, who: &Addr) -> ExecuteMsg {
        let block = self.app.block_info();
        let bytes = claim_bytes(&block.chain_id, &self.addr, id, inv, who);
        ExecuteMsg::ClaimInvitation {
            network_id: id,
            invitation_id: inv,
            signature: Binary::new(key.sign(&bytes).to_bytes().to_vec()),
        }
    }

    /// The owner authorizes `provider` and invites `who` (granting `web`,
    /// `max_members` each), who claims; returns the claim.
    fn join_web(
        &mut self,
        id: u64,
        provider: &Addr,
        who: &Addr,
        max_members: Option<u32>,
    ) -> ExecuteMsg {
        let tenant = self.tenant.clone();
        self.ok(
            &tenant,
            &ExecuteMsg::AuthorizeProvider {
                network_id: id,
                provider: provider.to_string(),
            },
        );
        let key = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
        let res = self.ok(
            &tenant,
            &ExecuteMsg::CreateInvitation {
                network_id: id,
                pubkey: Binary::new(key.verifying_key().to_bytes().to_vec()),
                key_type: KeyType::Ed25519,
                expires: self.app.block_info().time.plus_seconds(600),
                max_uses: 2,
                tags: strings(&["web"]),
                max_members,
            },
        );
        let inv: u64 = wasm_attr(&res, "create_invitation", "invitation_id")
            .parse()
            .unwrap();
        let claim = self.claim(id, inv, &key, who);
        self.ok(who, &claim);
        claim
    }

    /// The whole manifest, page by page.
    fn manifest(&self, id: u64) -> Manifest {
        let mut page: ManifestResponse = self.q(&QueryMsg::Manifest {
            network_id: id,
            start_after: None,
            limit: Some(100),
        });
        let mut out = page.manifest.clone();
        while let Some(next) = page.next_start_after {
            page = self.q(&QueryMsg::Manifest {
                network_id: id,
                start_after: Some(next),
                limit: Some(100),
            });
            out.members.extend(page.manifest.members);
        }
        out
    }

    fn by_lease(&self, lease: &LeaseId) -> Vec<LeaseMember> {
        let r: LeaseMembersResponse = self.q(&QueryMsg::MembersByLease {
            lease: lease.clone(),
            start_after: None,
            limit: Some(100),
        });
        r.members
    }

    fn view(&self, p: &Addr) -> Vec<(u64, u64)> {
        let v: ProviderViewResponse = self.q(&QueryMsg::ProviderView {
            provider: p.to_string(),
            start_after: None,
            limit: None,
        });
        v.networks
            .into_iter()
            .map(|n| (n.network_id, n.revision))
            .collect()
    }
}

/// `add_member` of a lease of `adder` (who sends it).
fn add(adder: &Addr, id: u64, name: &str, dseq: u64, provider: &Addr, tags: &[&str]) -> ExecuteMsg {
    ExecuteMsg::AddMember {
        network_id: id,
        name: name.into(),
        lease: lease(adder, dseq, provider),
        tags: strings(tags),
        service: None,
        ip: None,
        weight: None,
    }
}

fn db_policy() -> Policy {
    Policy {
        ingress: vec![Rule {
            peers: Peers::Tags(strings(&["web"])),
            protocol: Protocol::Tcp,
            ports: Some(PortRange {
                start: 5432,
                end: 5432,
            }),
            action: Action::Allow,
        }],
        egress: vec![],
    }
}

#[test]
fn tenant_journey_with_events_and_revisions() {
    let mut w = world();
    let (tenant, [p1, p2, p3]) = (w.tenant.clone(), w.providers.clone());
    let id = w.create("demo");
    assert_eq!(id, 1);

    let res = w.ok(&tenant, &add(&tenant, id, "web-1", 1001, &p1, &["web"]));
    assert_eq!(wasm_attr(&res, "add_member", "network_id"), "1");
    assert_eq!(wasm_attr(&res, "add_member", "revision"), "2");
    assert_eq!(wasm_attr(&res, "add_member", "providers"), p1.to_string());
    assert_eq!(wasm_attr(&res, "add_member", "ip"), "100.64.0.2");
    w.ok(
        &tenant,
        &ExecuteMsg::AddMember {
            network_id: id,
            name: "db".into(),
            lease: lease(&tenant, 1002, &p2),
            tags: strings(&["db"]),
            service: Some("postgres".into()),
            ip: Some("100.64.0.10".into()),
            weight: None,
        },
    );
    let db: MemberResponse = w.q(&QueryMsg::Member {
        network_id: id,
        name: "db".into(),
    });
    assert_eq!(db.ip, "100.64.0.10");
    assert_eq!(db.ip6.as_deref(), Some("fd00:1::a"));

    let res = w.ok(
        &tenant,
        &ExecuteMsg::SetPolicy {
            network_id: id,
            name: "db".into(),
            policy: db_policy(),
        },
    );
    assert_eq!(wasm_attr(&res, "set_policy", "revision"), "4");
    let res = w.ok(
        &tenant,
        &ExecuteMsg::AuthorizeProvider {
            network_id: id,
            provider: p3.to_string(),
        },
    );
    assert_eq!(
        wasm_attr(&res, "authorize_provider", "providers"),
        p3.to_string()
    );
    assert_eq!(w.view(&p3), vec![(id, 5)]);

    // Rebind db from p2 to p3: same address, p2 loses the network.
    let res = w.ok(
        &tenant,
        &ExecuteMsg::RebindMember {
            network_id: id,
            name: "db".into(),
            lease: lease(&tenant, 2002, &p3),
        },
    );
    let mut touched = [p2.to_string(), p3.to_string()];
    touched.sort();
    assert_eq!(
        wasm_attr(&res, "rebind_member", "providers"),
        touched.join(",")
    );
    assert_eq!(wasm_attr(&res, "rebind_member", "ip"), "100.64.0.10");
    assert!(w.view(&p2).is_empty());
    assert_eq!(w.view(&p1), vec![(id, 6)]);

    // Export → apply changes nothing; an edited manifest reconciles.
    let exported = w.manifest(id);
    let before = w.dump(id);
    let res = w.ok(
        &tenant,
        &ExecuteMsg::ApplyManifest {
            network_id: id,
            manifest: exported.clone(),
        },
    );
    assert_eq!(wasm_attr(&res, "apply_manifest", "revision"), "6");
    assert_eq!(before, w.dump(id));
    let mut edited = exported;
    edited.members.retain(|m| m.name == "db");
    edited.members.push(ManifestMember {
        name: "cache".into(),
        lease: lease(&tenant, 3003, &p2),
        tags: vec![],
        service: None,
        ip: None,
        policy: Policy::default(),
        weight: None,
    });
    let res = w.ok(
        &tenant,
        &ExecuteMsg::ApplyManifest {
            network_id: id,
            manifest: edited,
        },
    );
    assert_eq!(wasm_attr(&res, "apply_manifest", "revision"), "7");
    let members: MembersResponse = w.q(&QueryMsg::Members {
        network_id: id,
        start_after: None,
        limit: None,
    });
    let got: Vec<(String, String)> = members
        .members
        .into_iter()
        .map(|m| (m.name, m.ip))
        .collect();
    assert_eq!(
        got,
        vec![
            ("cache".to_string(), "100.64.0.2".to_string()),
            ("db".into(), "100.64.0.10".into())
        ]
    );

    let res = w.ok(&tenant, &ExecuteMsg::CloseNetwork { network_id: id });
    assert_eq!(wasm_attr(&res, "close_network", "revision"), "8");
    let n: NetworkResponse = w.q(&QueryMsg::Network { network_id: id });
    assert_eq!(n.status, NetworkStatus::Closed);
    for p in [&p1, &p2, &p3] {
        assert!(w.view(p).is_empty());
    }
}

#[test]
fn invitation_claims_with_real_signatures() {
    let mut w = world();
    let (tenant, bob, mallory, p1) = (
        w.tenant.clone(),
        w.bob.clone(),
        w.mallory.clone(),
        w.providers[0].clone(),
    );
    let id = w.create("shared");
    w.ok(&tenant, &add(&tenant, id, "owner-db", 1, &p1, &["db"]));
    w.ok(
        &tenant,
        &ExecuteMsg::AuthorizeProvider {
            network_id: id,
            provider: p1.to_string(),
        },
    );
    let key = ed25519_dalek::SigningKey::from_bytes(&[42; 32]);
    let expires = w.app.block_info().time.plus_seconds(600);
    let res = w.ok(
        &tenant,
        &ExecuteMsg::CreateInvitation {
            network_id: id,
            pubkey: Binary::new(key.verifying_key().to_bytes().to_vec()),
            key_type: KeyType::Ed25519,
            expires,
            max_uses: 1,
            tags: strings(&["web"]),
            max_members: None,
        },
    );
    let inv: u64 = wasm_attr(&res, "create_invitation", "invitation_id")
        .parse()
        .unwrap();

    // Forged (other key) and copied (Bob's signature sent by Mallory) fail.
    let forged = w.claim(
        id,
        inv,
        &ed25519_dalek::SigningKey::from_bytes(&[1; 32]),
        &mallory,
    );
    let err = w.reject(&mallory, id, &forged);
    assert!(err.contains("signature"), "{err}");
    let bobs = w.claim(id, inv, &key, &bob);
    let err = w.reject(&mallory, id, &bobs);
    assert!(err.contains("signature"), "{err}");

    let res = w.ok(&bob, &bobs);
    assert_eq!(
        wasm_attr(&res, "claim_invitation", "participant"),
        bob.to_string()
    );
    // Used up now.
    let mallorys = w.claim(id, inv, &key, &mallory);
    let err = w.reject(&mallory, id, &mallorys);
    assert!(err.contains("used up"), "{err}");

    // Bob adds under his grant only, and only manages his own members.
    w.ok(&bob, &add(&bob, id, "bob-web", 7, &p1, &["web"]));
    let err = w.reject(&bob, id, &add(&bob, id, "bob-db", 8, &p1, &["db"]));
    assert!(err.contains("not granted"), "{err}");
    let err = w.reject(
        &bob,
        id,
        &ExecuteMsg::RemoveMember {
            network_id: id,
            name: "owner-db".into(),
        },
    );
    assert!(err.contains("unauthorized"), "{err}");
    let m: MemberResponse = w.q(&QueryMsg::Member {
        network_id: id,
        name: "bob-web".into(),
    });
    assert_eq!(m.lease.owner, bob.as_str());

    // Expired invitations cannot be claimed.
    let res = w.ok(
        &tenant,
        &ExecuteMsg::CreateInvitation {
            network_id: id,
            pubkey: Binary::new(key.verifying_key().to_bytes().to_vec()),
            key_type: KeyType::Ed25519,
            expires,
            max_uses: 5,
            tags: strings(&["web"]),
            max_members: None,
        },
    );
    let inv2: u64 = wasm_attr(&res, "create_invitation", "invitation_id")
        .parse()
        .unwrap();
    w.app.update_block(|b| b.time = b.time.plus_seconds(601));
    let late = w.claim(id, inv2, &key, &mallory);
    let err = w.reject(&mallory, id, &late);
    assert!(err.contains("expired"), "{err}");

    // Removing Bob removes his member.
    let res = w.ok(
        &tenant,
        &ExecuteMsg::RemoveParticipant {
            network_id: id,
            participant: bob.to_string(),
        },
    );
    assert_eq!(
        wasm_attr(&res, "remove_participant", "removed_members"),
        "1"
    );
    let members: MembersResponse = w.q(&QueryMsg::Members {
        network_id: id,
        start_after: None,
        limit: None,
    });
    assert_eq!(members.members.len(), 1);
}

#[test]
fn outsiders_are_refused_everything() {
    let mut w = world();
    let (tenant, mallory, p1) = (w.tenant.clone(), w.mallory.clone(), w.providers[0].clone());
    let id = w.create("private");
    w.ok(&tenant, &add(&tenant, id, "a", 1, &p1, &["web"]));
    w.ok(
        &tenant,
        &ExecuteMsg::CreateInvitation {
            network_id: id,
            pubkey: Binary::new(vec![7; 32]),
            key_type: KeyType::Ed25519,
            expires: w.app.block_info().time.plus_seconds(60),
            max_uses: 1,
            tags: strings(&["web"]),
            max_members: None,
        },
    );
    let attacks = vec![
        ExecuteMsg::LeaveNetwork { network_id: id },
        ExecuteMsg::UpdateNetwork {
            network_id: id,
            default_action: Some(Action::Allow),
            tags: None,
            start_time: None,
            end_time: None,
        },
        ExecuteMsg::CloseNetwork { network_id: id },
        add(&mallory, id, "evil", 66, &mallory, &[]),
        ExecuteMsg::RebindMember {
            network_id: id,
            name: "a".into(),
            lease: lease(&mallory, 66, &mallory),
        },
        ExecuteMsg::RemoveMember {
            network_id: id,
            name: "a".into(),
        },
        ExecuteMsg::SetPolicy {
            network_id: id,
            name: "a".into(),
            policy: Policy::default(),
        },
        ExecuteMsg::ApplyManifest {
            network_id: id,
            manifest: Manifest {
                default_action: Action::Allow,
                tags: vec![],
                providers: vec![],
                members: vec![],
            },
        },
        ExecuteMsg::AuthorizeProvider {
            network_id: id,
            provider: mallory.to_string(),
        },
        ExecuteMsg::RevokeProvider {
            network_id: id,
            provider: p1.to_string(),
        },
        ExecuteMsg::CreateInvitation {
            network_id: id,
            pubkey: Binary::new(vec![1; 32]),
            key_type: KeyType::Ed25519,
            expires: Timestamp::from_seconds(u64::MAX / 1_000_000_000),
            max_uses: 9,
            tags: vec![],
            max_members: None,
        },
        ExecuteMsg::RevokeInvitation {
            network_id: id,
            invitation_id: 1,
        },
        ExecuteMsg::RemoveParticipant {
            network_id: id,
            participant: mallory.to_string(),
        },
        ExecuteMsg::UpdateParams {
            params: Params {
                max_members_per_network: 1,
                ..Params::default()
            },
        },
        ExecuteMsg::UpdateAdmin {
            admin: mallory.to_string(),
        },
    ];
    for msg in &attacks {
        let err = w.reject(&mallory, id, msg);
        assert!(err.contains("unauthorized"), "{msg:?}: {err}");
    }
    // Migration is for the chain admin (governance) only.
    assert!(
        w.app
            .migrate_contract(mallory.clone(), w.addr.clone(), &MigrateMsg {}, w.code_id)
            .is_err()
    );
}

#[test]
fn closed_network_rejects_everything_and_governance_migrates() {
    let mut w = world();
    let (tenant, gov, p1) = (w.tenant.clone(), w.gov.clone(), w.providers[0].clone());
    let id = w.create("short");
    w.ok(&tenant, &add(&tenant, id, "a", 1, &p1, &[]));
    w.ok(&tenant, &ExecuteMsg::CloseNetwork { network_id: id });
    for msg in [
        add(&tenant, id, "b", 1, &p1, &[]),
        ExecuteMsg::CloseNetwork { network_id: id },
        ExecuteMsg::SetPolicy {
            network_id: id,
            name: "a".into(),
            policy: Policy::default(),
        },
    ] {
        let err = w.reject(&tenant, id, &msg);
        assert!(err.contains("closed"), "{err}");
    }
    // The same name can be reused; ids are not.
    assert_eq!(w.create("short"), 2);
    let res = w
        .app
        .migrate_contract(gov.clone(), w.addr.clone(), &MigrateMsg {}, w.code_id)
        .unwrap();
    assert!(res.events.iter().any(|e| e.ty == "wasm-migrate"));
    let n: NetworkResponse = w.q(&QueryMsg::Network { network_id: 2 });
    assert_eq!(n.name, "short");
    let res = w.ok(
        &gov,
        &ExecuteMsg::UpdateParams {
            params: Params {
                max_networks_per_owner: 1,
                ..Params::default()
            },
        },
    );
    assert!(res.events.iter().any(|e| e.ty == "wasm-update_params"));
    let err = w
        .exec(
            &tenant,
            &ExecuteMsg::CreateNetwork {
                name: "third".into(),
                cidr: "100.64.0.0/24".into(),
                cidr6: None,
                default_action: None,
                tags: vec![],
                start_time: None,
                end_time: None,
            },
        )
        .map(|_| ())
        .unwrap_err();
    assert!(format!("{err:#}").contains("maximum of 1"), "{err:#}");
}

#[test]
fn remaining_messages_and_input_rejections() {
    let mut w = world();
    let (tenant, gov, bob, [p1, p2, _]) = (
        w.tenant.clone(),
        w.gov.clone(),
        w.bob.clone(),
        w.providers.clone(),
    );
    let id = w.create("edge");
    let create = |name: &str, cidr: &str| ExecuteMsg::CreateNetwork {
        name: name.into(),
        cidr: cidr.into(),
        cidr6: None,
        default_action: None,
        tags: vec![],
        start_time: None,
        end_time: None,
    };
    for (msg, text) in [
        (
            create("edge", "100.64.0.0/24"),
            "already has an open network",
        ),
        (create("x", "100.64.0.0/33"), "invalid CIDR"),
        (create("x", "100.64.0.5/24"), "host bits"),
        (create("x", "100.64.0.0/31"), "prefix length /31"),
        (create("x", "8.0.0.0/6"), "prefix length /6"),
    ] {
        let err = w.reject(&tenant, id, &msg);
        assert!(err.contains(text), "{msg:?}: {err}");
    }
    w.ok(&tenant, &add(&tenant, id, "a", 1, &p1, &["web"]));
    let with_ip = |ip: &str| ExecuteMsg::AddMember {
        network_id: id,
        name: "b".into(),
        lease: lease(&tenant, 2, &p1),
        tags: vec![],
        service: None,
        ip: Some(ip.into()),
        weight: None,
    };
    for (ip, text) in [
        ("100.64.1.1", "outside"),
        ("100.64.0.1", "reserved"),
        ("100.64.0.255", "reserved"),
        ("100.64.0.2", "taken"),
    ] {
        let err = w.reject(&tenant, id, &with_ip(ip));
        assert!(err.contains(text), "{ip}: {err}");
    }
    let bad_rule = |ports: Option<(u16, u16)>, protocol, tag: &str| ExecuteMsg::SetPolicy {
        network_id: id,
        name: "a".into(),
        policy: Policy {
            ingress: vec![Rule {
                peers: Peers::Tags(strings(&[tag])),
                protocol,
                ports: ports.map(|(start, end)| PortRange { start, end }),
                action: Action::Allow,
            }],
            egress: vec![],
        },
    };
    for (msg, text) in [
        (bad_rule(Some((0, 10)), Protocol::Tcp, "web"), "port 0"),
        (bad_rule(Some((10, 9)), Protocol::Udp, "web"), "reversed"),
        (bad_rule(Some((1, 9)), Protocol::Icmp, "web"), "icmp"),
        (bad_rule(None, Protocol::Tcp, "nope"), "vocabulary"),
    ] {
        let err = w.reject(&tenant, id, &msg);
        assert!(err.contains(text), "{msg:?}: {err}");
    }

    // update_network: a used tag cannot go; others can.
    let upd = |tags: &[&str]| ExecuteMsg::UpdateNetwork {
        network_id: id,
        default_action: Some(Action::Allow),
        tags: Some(strings(tags)),
        start_time: None,
        end_time: None,
    };
    let err = w.reject(&tenant, id, &upd(&["db"]));
    assert!(err.contains("still in use"), "{err}");
    let res = w.ok(&tenant, &upd(&["web", "cache"]));
    assert_eq!(
        wasm_attr(&res, "update_network", "network_id"),
        id.to_string()
    );

    // remove_member releases the address for reuse.
    let res = w.ok(
        &tenant,
        &ExecuteMsg::RemoveMember {
            network_id: id,
            name: "a".into(),
        },
    );
    assert_eq!(
        wasm_attr(&res, "remove_member", "providers"),
        p1.to_string()
    );
    let res = w.ok(&tenant, &add(&tenant, id, "c", 3, &p2, &[]));
    assert_eq!(wasm_attr(&res, "add_member", "ip"), "100.64.0.2");

    // authorize / revoke provider.
    let auth = ExecuteMsg::AuthorizeProvider {
        network_id: id,
        provider: p1.to_string(),
    };
    w.ok(&tenant, &auth);
    let err = w.reject(&tenant, id, &auth);
    assert!(err.contains("already authorized"), "{err}");
    let res = w.ok(
        &tenant,
        &ExecuteMsg::RevokeProvider {
            network_id: id,
            provider: p1.to_string(),
        },
    );
    assert_eq!(
        wasm_attr(&res, "revoke_provider", "providers"),
        p1.to_string()
    );
    assert!(w.view(&p1).is_empty());

    // secp256k1 invitation, revoke_invitation.
    let k1 = k256::ecdsa::SigningKey::from_bytes(&[5u8; 32].into()).unwrap();
    let res = w.ok(
        &tenant,
        &ExecuteMsg::CreateInvitation {
            network_id: id,
            pubkey: Binary::new(
                k1.verifying_key()
                    .to_encoded_point(true)
                    .as_bytes()
                    .to_vec(),
            ),
            key_type: KeyType::Secp256k1,
            expires: w.app.block_info().time.plus_seconds(60),
            max_uses: 2,
            tags: strings(&["cache"]),
            max_members: None,
        },
    );
    let inv: u64 = wasm_attr(&res, "create_invitation", "invitation_id")
        .parse()
        .unwrap();
    let block = w.app.block_info();
    let bytes = claim_bytes(&block.chain_id, &w.addr, id, inv, &bob);
    let sig: k256::ecdsa::Signature = k256::ecdsa::signature::Signer::sign(&k1, &bytes);
    let claim = ExecuteMsg::ClaimInvitation {
        network_id: id,
        invitation_id: inv,
        signature: Binary::new(sig.to_bytes().to_vec()),
    };
    let mallory = w.mallory.clone();
    let err = w.reject(&mallory, id, &claim);
    assert!(err.contains("signature"), "{err}");
    w.ok(&bob, &claim);
    w.ok(
        &tenant,
        &ExecuteMsg::AuthorizeProvider {
            network_id: id,
            provider: p2.to_string(),
        },
    );
    w.ok(&bob, &add(&bob, id, "bob-cache", 9, &p2, &["cache"]));
    let res = w.ok(
        &tenant,
        &ExecuteMsg::RevokeInvitation {
            network_id: id,
            invitation_id: inv,
        },
    );
    assert_eq!(
        wasm_attr(&res, "revoke_invitation", "invitation_id"),
        inv.to_string()
    );
    let invs: InvitationsResponse = w.q(&QueryMsg::Invitations {
        network_id: id,
        start_after: None,
        limit: None,
    });
    assert!(invs.invitations.is_empty());

    // Time box: a network that starts later.
    let now = w.app.block_info().time;
    let res = w.ok(
        &tenant,
        &ExecuteMsg::CreateNetwork {
            name: "later".into(),
            cidr: "100.64.0.0/24".into(),
            cidr6: None,
            default_action: None,
            tags: vec![],
            start_time: Some(now.plus_seconds(100)),
            end_time: Some(now.plus_seconds(200)),
        },
    );
    let later: u64 = wasm_attr(&res, "create_network", "network_id")
        .parse()
        .unwrap();
    let err = w.reject(&tenant, later, &add(&tenant, later, "x", 1, &p1, &[]));
    assert!(err.contains("not started"), "{err}");
    w.app.update_block(|b| b.time = b.time.plus_seconds(100));
    w.ok(&tenant, &add(&tenant, later, "x", 1, &p1, &[]));
    w.app.update_block(|b| b.time = b.time.plus_seconds(100));
    let err = w.reject(&tenant, later, &add(&tenant, later, "y", 1, &p1, &[]));
    assert!(err.contains("ended"), "{err}");

    // update_admin hands governance over.
    w.ok(
        &gov,
        &ExecuteMsg::UpdateAdmin {
            admin: tenant.to_string(),
        },
    );
    let admin: network_registry::msg::AdminResponse = w.q(&QueryMsg::Admin {});
    assert_eq!(admin.admin, tenant);
}

#[test]
fn exhausted_pool_in_app() {
    let mut w = world();
    let (tenant, p1) = (w.tenant.clone(), w.providers[0].clone());
    let res = w.ok(
        &tenant,
        &ExecuteMsg::CreateNetwork {
            name: "tiny".into(),
            cidr: "100.64.0.0/29".into(),
            cidr6: None,
            default_action: None,
            tags: vec![],
            start_time: None,
            end_time: None,
        },
    );
    let id: u64 = wasm_attr(&res, "create_network", "network_id")
        .parse()
        .unwrap();
    for i in 0..5 {
        w.ok(&tenant, &add(&tenant, id, &format!("m{i}"), i, &p1, &[]));
    }
    let err = w.reject(&tenant, id, &add(&tenant, id, "m5", 5, &p1, &[]));
    assert!(err.contains("exhausted"), "{err}");
}

#[test]
fn participant_limits_leave_close_and_purge_in_app() {
    let mut w = world();
    let (tenant, bob, mallory, [p1, p2, _]) = (
        w.tenant.clone(),
        w.bob.clone(),
        w.mallory.clone(),
        w.providers.clone(),
    );
    let id = w.create("shared");
    w.ok(&tenant, &add(&tenant, id, "web-1", 1001, &p1, &["web"]));
    let claim = w.join_web(id, &p1, &bob, Some(1));

    // The owner's lease, a static address, an unauthorized provider.
    let err = w.reject(&bob, id, &add(&tenant, id, "b", 1001, &p1, &["web"]));
    assert!(err.contains("is not the sender"), "{err}");
    let mut fixed = add(&bob, id, "b", 1, &p1, &["web"]);
    if let ExecuteMsg::AddMember { ip, .. } = &mut fixed {
        *ip = Some("100.64.0.9".into());
    }
    let err = w.reject(&bob, id, &fixed);
    assert!(err.contains("static addresses"), "{err}");
    let err = w.reject(&bob, id, &add(&bob, id, "b", 1, &p2, &["web"]));
    assert!(err.contains("not authorized by the network owner"), "{err}");
    // Within the quota of one member.
    w.ok(&bob, &add(&bob, id, "bob-1", 1, &p1, &["web"]));
    let err = w.reject(&bob, id, &add(&bob, id, "bob-2", 2, &p1, &["web"]));
    assert!(err.contains("maximum of 1 members"), "{err}");
    // The owner cannot move Bob's member.
    let err = w.reject(
        &tenant,
        id,
        &ExecuteMsg::RebindMember {
            network_id: id,
            name: "bob-1".into(),
            lease: lease(&tenant, 5, &p1),
        },
    );
    assert!(err.contains("may rebind it"), "{err}");

    // Bob leaves; his claim cannot be replayed.
    let res = w.ok(&bob, &ExecuteMsg::LeaveNetwork { network_id: id });
    assert_eq!(wasm_attr(&res, "leave_network", "removed_members"), "1");
    assert_eq!(
        wasm_attr(&res, "leave_network", "providers"),
        p1.to_string()
    );
    assert!(w.by_lease(&lease(&bob, 1, &p1)).is_empty());
    let err = w.reject(&bob, id, &claim);
    assert!(err.contains("already claimed"), "{err}");

    // Nobody purges an open network; anyone purges a closed one.
    let purge = ExecuteMsg::PurgeNetwork {
        network_id: id,
        limit: None,
    };
    let err = w.reject(&mallory, id, &purge);
    assert!(err.contains("is open"), "{err}");
    assert_eq!(
        w.by_lease(&lease(&tenant, 1001, &p1)),
        vec![LeaseMember {
            network_id: id,
            name: "web-1".into()
        }]
    );
    let res = w.ok(&tenant, &ExecuteMsg::CloseNetwork { network_id: id });
    assert_eq!(wasm_attr(&res, "close_network", "remaining"), "false");
    assert_eq!(
        wasm_attr(&res, "close_network", "providers"),
        p1.to_string()
    );
    let res = w.ok(&mallory, &purge);
    assert_eq!(wasm_attr(&res, "purge_network", "remaining"), "false");
    assert!(w.by_lease(&lease(&tenant, 1001, &p1)).is_empty());
}

/// `msg` (an `add_member`) for a replica of `service` with `weight`.
fn replica(mut msg: ExecuteMsg, service: &str, weight: Option<u32>) -> ExecuteMsg {
    if let ExecuteMsg::AddMember {
        service: s,
        weight: w,
        ..
    } = &mut msg
    {
        *s = Some(service.into());
        *w = weight;
    }
    msg
}

fn apply(id: u64, manifest: &Manifest) -> ExecuteMsg {
    ExecuteMsg::ApplyManifest {
        network_id: id,
        manifest: manifest.clone(),
    }
}

/// The weight of every member of the manifest export, by name.
fn weights(w: &World, id: u64) -> Vec<(String, Option<u32>)> {
    let members: MembersResponse = w.q(&QueryMsg::Members {
        network_id: id,
        start_after: None,
        limit: None,
    });
    let exported: Vec<(String, Option<u32>)> = w
        .manifest(id)
        .members
        .into_iter()
        .map(|m| (m.name, m.weight))
        .collect();
    let queried: Vec<(String, Option<u32>)> = members
        .members
        .into_iter()
        .map(|m| (m.name, m.weight))
        .collect();
    assert_eq!(queried, exported, "member query and manifest export agree");
    queried
}

fn weight_error(got: u32) -> String {
    ContractError::InvalidWeight {
        got,
        max: MAX_WEIGHT,
    }
    .to_string()
}

#[test]
fn member_weights_set_on_add_and_changed_by_a_manifest() {
    let mut w = world();
    let (tenant, [p1, p2, _]) = (w.tenant.clone(), w.providers.clone());
    let id = w.create("demo");
    let res = w.ok(
        &tenant,
        &replica(
            add(&tenant, id, "web-1", 1, &p1, &["web"]),
            "web",
            Some(250),
        ),
    );
    assert_eq!(wasm_attr(&res, "add_member", "weight"), "250");
    // No weight, or 0 (the same): none stored, none in the event.
    for (name, dseq, weight) in [("web-2", 2, None), ("web-3", 3, Some(0))] {
        let res = w.ok(
            &tenant,
            &replica(add(&tenant, id, name, dseq, &p2, &["web"]), "web", weight),
        );
        let ev = res.events.iter().find(|e| e.ty == "wasm-add_member");
        assert!(
            ev.is_some_and(|e| e.attributes.iter().all(|a| a.key != "weight")),
            "{ev:?}"
        );
    }
    assert_eq!(
        weights(&w, id),
        vec![
            ("web-1".into(), Some(250)),
            ("web-2".into(), None),
            ("web-3".into(), None)
        ]
    );

    // The export carries the weights: applied as it is, nothing changes.
    let revision = |w: &World| {
        w.q::<NetworkResponse>(&QueryMsg::Network { network_id: id })
            .revision
    };
    let mut m = w.manifest(id);
    let before = revision(&w);
    let res = w.ok(&tenant, &apply(id, &m));
    assert_eq!(wasm_attr(&res, "apply_manifest", "providers"), "");
    assert_eq!(revision(&w), before);

    // A manifest changes them (up to the maximum); the hosting providers
    // hear of it and the revision moves.
    m.members[0].weight = Some(40);
    m.members[1].weight = Some(MAX_WEIGHT);
    let res = w.ok(&tenant, &apply(id, &m));
    let providers = wasm_attr(&res, "apply_manifest", "providers");
    assert!(
        providers.contains(p1.as_str()) && providers.contains(p2.as_str()),
        "{providers}"
    );
    assert_eq!(revision(&w), before + 1);
    assert_eq!(
        weights(&w, id),
        vec![
            ("web-1".into(), Some(40)),
            ("web-2".into(), Some(MAX_WEIGHT)),
            ("web-3".into(), None)
        ]
    );

    // Left out or 0: the weight goes.
    m.members[0].weight = None;
    m.members[1].weight = Some(0);
    w.ok(&tenant, &apply(id, &m));
    assert!(weights(&w, id).iter().all(|(_, weight)| weight.is_none()));
}

#[test]
fn out_of_range_weights_are_refused_and_change_nothing() {
    let mut w = world();
    let (tenant, p1) = (w.tenant.clone(), w.providers[0].clone());
    let id = w.create("demo");
    for bad in [MAX_WEIGHT + 1, u32::MAX] {
        let msg = replica(
            add(&tenant, id, "web-1", 1, &p1, &["web"]),
            "web",
            Some(bad),
        );
        let err = w.reject(&tenant, id, &msg);
        assert!(err.ends_with(&weight_error(bad)), "{err}");
    }
    w.ok(
        &tenant,
        &replica(add(&tenant, id, "web-1", 1, &p1, &["web"]), "web", Some(10)),
    );
    // An existing member and a new one, each out of range.
    let mut m = w.manifest(id);
    m.members[0].weight = Some(MAX_WEIGHT + 1);
    let err = w.reject(&tenant, id, &apply(id, &m));
    assert!(err.ends_with(&weight_error(MAX_WEIGHT + 1)), "{err}");
    let mut m = w.manifest(id);
    let mut new = m.members[0].clone();
    new.name = "web-2".into();
    new.lease.dseq = 2;
    new.ip = None;
    new.weight = Some(u32::MAX);
    m.members.push(new);
    let err = w.reject(&tenant, id, &apply(id, &m));
    assert!(err.ends_with(&weight_error(u32::MAX)), "{err}");
    assert_eq!(weights(&w, id), vec![("web-1".into(), Some(10))]);
}

/// A participant sets the weight of its own members when it adds them and
/// nothing else: not an owner's member's (by name, by manifest), not by
/// joining the owner's service with a light replica; and the owner cannot
/// change a participant's member's weight either.
#[test]
fn a_participant_cannot_set_weights_it_may_not_change() {
    let mut w = world();
    let (tenant, bob, p1) = (w.tenant.clone(), w.bob.clone(), w.providers[0].clone());
    let id = w.create("shared");
    w.ok(
        &tenant,
        &replica(
            add(&tenant, id, "web-1", 1, &p1, &["web"]),
            "web",
            Some(500),
        ),
    );
    w.join_web(id, &p1, &bob, None);

    // The owner's member, by its name: refused.
    let err = w.reject(
        &bob,
        id,
        &replica(add(&bob, id, "web-1", 9, &p1, &["web"]), "web", Some(1)),
    );
    assert!(err.contains("already exists"), "{err}");
    // A light replica of the owner's service, to draw its flows: refused.
    let err = w.reject(
        &bob,
        id,
        &replica(add(&bob, id, "bob-web", 9, &p1, &["web"]), "web", None),
    );
    assert!(err.contains("only its members may join it"), "{err}");
    // The owner's weights through a manifest: refused.
    let mut m = w.manifest(id);
    m.members[0].weight = Some(60_000);
    let err = w.reject(&bob, id, &apply(id, &m));
    assert!(err.contains("unauthorized"), "{err}");
    // Out of range on its own member: refused like the owner's.
    let err = w.reject(
        &bob,
        id,
        &replica(
            add(&bob, id, "bob-1", 9, &p1, &["web"]),
            "bob-api",
            Some(MAX_WEIGHT + 1),
        ),
    );
    assert!(err.ends_with(&weight_error(MAX_WEIGHT + 1)), "{err}");
    // Its own member: set on add.
    let res = w.ok(
        &bob,
        &replica(
            add(&bob, id, "bob-1", 9, &p1, &["web"]),
            "bob-api",
            Some(300),
        ),
    );
    assert_eq!(wasm_attr(&res, "add_member", "weight"), "300");
    assert_eq!(
        weights(&w, id),
        vec![("bob-1".into(), Some(300)), ("web-1".into(), Some(500))]
    );

    // The owner keeps the participant's member listed unchanged or leaves it out.
    let mut m = w.manifest(id);
    m.members[0].weight = Some(1);
    let err = w.reject(&tenant, id, &apply(id, &m));
    assert!(
        err.ends_with(&ContractError::ParticipantMemberInManifest("bob-1".into()).to_string()),
        "{err}"
    );
    m.members[0].weight = Some(300);
    m.members[1].weight = Some(20);
    w.ok(&tenant, &apply(id, &m));
    assert_eq!(
        weights(&w, id),
        vec![("bob-1".into(), Some(300)), ("web-1".into(), Some(20))]
    );
}
