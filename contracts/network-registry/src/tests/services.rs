//! Services: addresses from the IPAM held while a replica exists, names
//! apart from members', ownership by the first replica's adder, cleanup by
//! every way a member goes (remove, manifest, leave, close and purge).

use super::*;
use crate::assert_err;
use crate::msg::{ManifestMember, ServiceResponse, ServicesResponse};
use crate::state::SERVICES;

fn replica(id: u64, adder: &Addr, name: &str, dseq: u64, provider: &Addr, svc: &str) -> ExecuteMsg {
    ExecuteMsg::AddMember {
        network_id: id,
        name: name.into(),
        lease: lease_of(adder, dseq, provider),
        tags: strings(&["web"]),
        service: Some(svc.into()),
        ip: None,
        weight: None,
    }
}

fn remove(id: u64, name: &str) -> ExecuteMsg {
    ExecuteMsg::RemoveMember {
        network_id: id,
        name: name.into(),
    }
}

fn service(s: &Setup, id: u64, name: &str) -> Result<ServiceResponse, ContractError> {
    s.q(QueryMsg::Service {
        network_id: id,
        name: name.into(),
    })
}

fn services(s: &Setup, id: u64, start_after: Option<&str>, limit: u32) -> Vec<String> {
    let page: ServicesResponse = s
        .q(QueryMsg::Services {
            network_id: id,
            start_after: start_after.map(String::from),
            limit: Some(limit),
        })
        .unwrap();
    page.services.into_iter().map(|s| s.name).collect()
}

#[test]
fn first_replica_allocates_the_address_and_the_last_releases_it() {
    let mut s = setup();
    let id = s.net();
    let (owner, p1, p2) = (s.owner.clone(), s.p1.clone(), s.p2.clone());
    let res = s.ok(&owner, replica(id, &owner, "api-1", 1, &p1, "api"));
    assert_eq!(attr(event(&res), "ip"), "100.64.0.2");
    let ev = event(&res);
    assert_eq!(attr(ev, "service"), "api");
    assert_eq!(attr(ev, "service_ip"), "100.64.0.3");
    assert_eq!(attr(ev, "service_replicas"), "1");
    let res = s.ok(&owner, replica(id, &owner, "api-2", 2, &p2, "api"));
    assert_eq!(attr(event(&res), "ip"), "100.64.0.4");
    assert_eq!(attr(event(&res), "service_replicas"), "2");
    let svc = service(&s, id, "api").unwrap();
    assert_eq!(
        svc,
        ServiceResponse {
            name: "api".into(),
            ip: "100.64.0.3".into(),
            ip6: None,
            owner: owner.clone(),
            replicas: 2,
        }
    );
    // No member can take it, statically or by name lookup.
    assert_err!(
        s.reject(&owner, add_ip_msg(id, "squat", &p1, "100.64.0.3")),
        ContractError::IpTaken(_)
    );
    assert_err!(
        s.q::<MemberResponse>(QueryMsg::MemberByIp {
            network_id: id,
            ip: "100.64.0.3".into()
        })
        .unwrap_err(),
        ContractError::IpNotAssigned(_)
    );
    let res = s.ok(&owner, remove(id, "api-1"));
    assert_eq!(attr(event(&res), "service_replicas"), "1");
    assert_eq!(service(&s, id, "api").unwrap().replicas, 1);
    let res = s.ok(&owner, remove(id, "api-2"));
    let ev = event(&res);
    assert_eq!(attr(ev, "service_replicas"), "0");
    assert!(ev.attributes.iter().all(|a| a.key != "service_ip"));
    assert_err!(
        service(&s, id, "api").unwrap_err(),
        ContractError::ServiceNotFound(_)
    );
    // The address is free again (lowest first).
    assert_eq!(s.add(id, "next", &p1), "100.64.0.2");
    assert_eq!(s.add(id, "after", &p1), "100.64.0.3");
}

#[test]
fn service_and_member_names_never_collide() {
    let mut s = setup();
    let id = s.net();
    let (owner, p1) = (s.owner.clone(), s.p1.clone());
    s.add(id, "db", &p1);
    assert_err!(
        s.reject(&owner, replica(id, &owner, "db-1", 1, &p1, "db")),
        ContractError::ServiceIsMember(n) if n == "db"
    );
    assert_err!(
        s.reject(&owner, replica(id, &owner, "self", 1, &p1, "self")),
        ContractError::ServiceIsMember(_)
    );
    s.ok(&owner, replica(id, &owner, "api-1", 1, &p1, "api"));
    assert_err!(
        s.reject(&owner, add_msg(id, "api", 2, &p1, &[])),
        ContractError::NameIsService(n) if n == "api"
    );
    // Through a manifest too.
    let mut m = s.manifest(id);
    m.members.push(ManifestMember {
        name: "api".into(),
        lease: lease(3, &p1),
        tags: vec![],
        service: None,
        ip: None,
        policy: Policy::default(),
        weight: None,
    });
    assert_err!(
        s.reject(
            &owner,
            ExecuteMsg::ApplyManifest {
                network_id: id,
                manifest: m
            }
        ),
        ContractError::NameIsService(_)
    );
}

#[test]
fn network_with_ipv6_gives_services_an_ipv6() {
    let mut s = setup();
    let (owner, p1) = (s.owner.clone(), s.p1.clone());
    let id = s.create(
        &owner,
        ExecuteMsg::CreateNetwork {
            name: "v6".into(),
            cidr: "10.9.0.0/24".into(),
            cidr6: Some("fd00:9::/64".into()),
            default_action: None,
            tags: strings(&["web"]),
            start_time: None,
            end_time: None,
        },
    );
    s.ok(&owner, replica(id, &owner, "api-1", 1, &p1, "api"));
    let svc = service(&s, id, "api").unwrap();
    assert_eq!(svc.ip, "10.9.0.3");
    assert_eq!(svc.ip6.as_deref(), Some("fd00:9::3"));
}

#[test]
fn manifest_moves_replicas_between_services_and_keeps_static_addresses() {
    let mut s = setup();
    let id = s.net();
    let (owner, p1) = (s.owner.clone(), s.p1.clone());
    let member = |name: &str, ip: &str, svc: Option<&str>| ManifestMember {
        name: name.into(),
        lease: lease(1, &p1),
        tags: vec![],
        service: svc.map(String::from),
        ip: Some(ip.into()),
        policy: Policy::default(),
        weight: None,
    };
    let mut m = s.manifest(id);
    // The service would take .3 if it joined before b's static request.
    m.members = vec![
        member("a", "100.64.0.2", Some("api")),
        member("b", "100.64.0.3", Some("api")),
    ];
    let apply = |m: &Manifest| ExecuteMsg::ApplyManifest {
        network_id: id,
        manifest: m.clone(),
    };
    s.ok(&owner, apply(&m));
    let api = service(&s, id, "api").unwrap();
    assert_eq!((api.ip.as_str(), api.replicas), ("100.64.0.4", 2));
    // b moves to another service; a stays.
    m.members[1].service = Some("web".into());
    s.ok(&owner, apply(&m));
    assert_eq!(service(&s, id, "api").unwrap().replicas, 1);
    assert_eq!(service(&s, id, "web").unwrap().ip, "100.64.0.5");
    // Both leave api: its address goes.
    m.members[0].service = None;
    s.ok(&owner, apply(&m));
    assert_eq!(services(&s, id, None, 10), strings(&["web"]));
    assert!(
        s.q::<MemberResponse>(QueryMsg::MemberByIp {
            network_id: id,
            ip: "100.64.0.4".into()
        })
        .is_err()
    );
    // Dropping the last replica drops the service.
    m.members.pop();
    s.ok(&owner, apply(&m));
    assert!(services(&s, id, None, 10).is_empty());
}

#[test]
fn services_are_listed_by_name_in_bounded_pages() {
    let mut s = setup();
    let id = s.net();
    let (owner, p1) = (s.owner.clone(), s.p1.clone());
    for (i, name) in ["c", "a", "b"].iter().enumerate() {
        s.ok(
            &owner,
            replica(id, &owner, &format!("{name}-1"), i as u64, &p1, name),
        );
    }
    assert_eq!(services(&s, id, None, 2), strings(&["a", "b"]));
    assert_eq!(services(&s, id, Some("b"), 2), strings(&["c"]));
    let max = s.q::<Params>(QueryMsg::Params {}).unwrap().max_query_limit;
    assert_eq!(services(&s, id, None, max + 100).len(), 3);
}

#[test]
fn close_and_purge_remove_services() {
    let mut s = setup();
    let id = s.net();
    let (owner, p1) = (s.owner.clone(), s.p1.clone());
    s.ok(&owner, replica(id, &owner, "api-1", 1, &p1, "api"));
    s.ok(&owner, ExecuteMsg::CloseNetwork { network_id: id });
    assert!(services(&s, id, None, 10).is_empty());
    assert_err!(
        service(&s, id, "api").unwrap_err(),
        ContractError::NetworkClosed(_)
    );
    assert!(
        SERVICES
            .prefix(id)
            .keys_raw(&s.deps.storage, None, None, cosmwasm_std::Order::Ascending)
            .next()
            .is_none()
    );
}

// Attacks: a participant (Bob, granted `web`, quota 2).

fn with_bob() -> (Setup, u64) {
    let mut s = setup();
    let id = s.net();
    let (owner, bob, p1) = (s.owner.clone(), s.bob.clone(), s.p1.clone());
    s.authorize(id, &p1);
    s.ok(&owner, replica(id, &owner, "api-1", 1, &p1, "api"));
    let key = Key::Ed(ed_key(3));
    let inv = s.invite_with(id, &key, 1, &["web"], Some(2));
    let claim = s.claim_msg(id, inv, &key, &bob);
    s.ok(&bob, claim);
    (s, id)
}

#[test]
fn participant_cannot_join_the_owners_service() {
    let (mut s, id) = with_bob();
    let (bob, p1) = (s.bob.clone(), s.p1.clone());
    let before = s.dump(id, &[]);
    assert_err!(
        s.reject(&bob, replica(id, &bob, "evil", 9, &p1, "api")),
        ContractError::ServiceNotOwned { service, .. } if service == "api"
    );
    assert_eq!(s.dump(id, &[]), before);
}

#[test]
fn participant_cannot_squat_member_or_service_names() {
    let (mut s, id) = with_bob();
    let (owner, bob, p1) = (s.owner.clone(), s.bob.clone(), s.p1.clone());
    s.add(id, "db", &p1);
    let before = s.dump(id, &[]);
    assert_err!(
        s.reject(&bob, replica(id, &bob, "bob-1", 9, &p1, "db")),
        ContractError::ServiceIsMember(_)
    );
    assert_err!(
        s.reject(&bob, add_msg_by(&bob, id, "api", 9, &p1, &["web"])),
        ContractError::NameIsService(_)
    );
    assert_eq!(s.dump(id, &[]), before);
    // Its own service is its own: the owner's members cannot join it
    // (nor take its name), and leaving releases it.
    s.ok(&bob, replica(id, &bob, "bob-1", 9, &p1, "bobs"));
    assert_eq!(service(&s, id, "bobs").unwrap().owner, bob);
    assert_err!(
        s.reject(&owner, replica(id, &owner, "o", 10, &p1, "bobs")),
        ContractError::ServiceNotOwned { .. }
    );
    s.ok(&bob, ExecuteMsg::LeaveNetwork { network_id: id });
    assert_eq!(services(&s, id, None, 10), strings(&["api"]));
}

#[test]
fn participant_services_are_bounded_by_its_quota() {
    let (mut s, id) = with_bob();
    let (bob, p1) = (s.bob.clone(), s.p1.clone());
    s.ok(&bob, replica(id, &bob, "b1", 1, &p1, "s1"));
    s.ok(&bob, replica(id, &bob, "b2", 2, &p1, "s2"));
    assert_err!(
        s.reject(&bob, replica(id, &bob, "b3", 3, &p1, "s3")),
        ContractError::ParticipantQuota { .. }
    );
    assert_eq!(services(&s, id, None, 10), strings(&["api", "s1", "s2"]));
}
