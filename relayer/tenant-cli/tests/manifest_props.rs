//! Property tests of manifests: an export read back plans no change, and a
//! plan's changes applied to the chain's state give the desired manifest.

use avpn_tenant_cli::manifest::file::{Document, Format, parse};
use avpn_tenant_cli::manifest::plan::{MemberPlan, plan};
use avpn_tenant_cli::manifest::yaml;
use network_registry::msg::{
    Action, LeaseId, MAX_WEIGHT, Manifest, ManifestMember, NetworkResponse, NetworkStatus, Peers,
    Policy, PortRange, Protocol, Rule,
};
use proptest::prelude::*;

/// A valid bech32 account address.
fn addr(seed: u8) -> String {
    cosmrs::AccountId::new("akash", &[seed; 20])
        .unwrap()
        .to_string()
}

const OWNER: u8 = 1;
const PARTICIPANT: u8 = 3;
/// Tags, including ones YAML would misread unquoted.
const VOCABULARY: &[&str] = &["web", "db", "1", "true", "no", "a.b-c_d"];
const NAMES: &[&str] = &["web-1", "db", "0", "null", "x.y", "cache-1", "api"];

fn names(pool: &'static [&'static str]) -> impl Strategy<Value = Vec<String>> {
    proptest::sample::subsequence(pool, 1..=pool.len().min(3))
        .prop_map(|v| v.into_iter().map(String::from).collect())
}

fn peers() -> impl Strategy<Value = Peers> {
    prop_oneof![
        Just(Peers::Any),
        names(NAMES).prop_map(Peers::Members),
        names(VOCABULARY).prop_map(Peers::Tags),
        proptest::sample::subsequence(
            vec!["100.64.0.0/26", "100.64.0.128/25", "10.0.0.1/32"],
            1..=2
        )
        .prop_map(|v| Peers::Cidrs(v.into_iter().map(String::from).collect())),
        names(NAMES).prop_map(Peers::Services),
    ]
}

fn ports() -> impl Strategy<Value = Option<PortRange>> {
    prop_oneof![
        Just(None),
        (1u16..=65535, 0u16..=100).prop_map(|(start, len)| Some(PortRange {
            start,
            end: start.saturating_add(len),
        })),
    ]
}

fn rule() -> impl Strategy<Value = Rule> {
    let proto = prop_oneof![
        ports().prop_map(|p| (Protocol::Tcp, p)),
        ports().prop_map(|p| (Protocol::Udp, p)),
        Just((Protocol::Icmp, None)),
        ports().prop_map(|p| (Protocol::Any, p)),
    ];
    let action = prop_oneof![Just(Action::Allow), Just(Action::Deny)];
    (peers(), proto, action).prop_map(|(peers, (protocol, ports), action)| Rule {
        peers,
        protocol,
        ports,
        action,
    })
}

fn policy() -> impl Strategy<Value = Policy> {
    (
        proptest::collection::vec(rule(), 0..3),
        proptest::collection::vec(rule(), 0..3),
    )
        .prop_map(|(ingress, egress)| Policy { ingress, egress })
}

fn lease(owner: u8) -> impl Strategy<Value = LeaseId> {
    (1u64..5000, 1u32..3, 1u32..3, 10u8..13, 0u32..2).prop_map(
        move |(dseq, gseq, oseq, p, bseq)| LeaseId {
            owner: addr(owner),
            dseq,
            gseq,
            oseq,
            provider: addr(p),
            bseq,
        },
    )
}

/// A member as the chain exports it (explicit ip), owned by `owner`.
fn member(name: String, ip: u8, owner: u8) -> impl Strategy<Value = ManifestMember> {
    (
        lease(owner),
        proptest::sample::subsequence(VOCABULARY, 0..=2),
        proptest::option::of(proptest::sample::select(vec!["web", "db", "1"])),
        policy(),
        // The chain stores a weight of 0 as none.
        proptest::option::of(1..=MAX_WEIGHT),
    )
        .prop_map(
            move |(lease, tags, service, policy, weight)| ManifestMember {
                name: name.clone(),
                lease,
                tags: tags.into_iter().map(String::from).collect(),
                service: service.map(String::from),
                ip: Some(format!("100.64.0.{ip}")),
                policy,
                weight,
            },
        )
}

/// A network's export: members by name with distinct addresses, some of a participant.
fn chain_manifest() -> impl Strategy<Value = Manifest> {
    let members = proptest::sample::subsequence(NAMES, 0..=NAMES.len()).prop_flat_map(|names| {
        names
            .into_iter()
            .enumerate()
            .map(|(i, n)| {
                prop_oneof![Just(OWNER), Just(PARTICIPANT)]
                    .prop_flat_map(move |o| member(n.to_owned(), 2 + i as u8, o))
            })
            .collect::<Vec<_>>()
    });
    (
        prop_oneof![Just(Action::Allow), Just(Action::Deny)],
        proptest::sample::subsequence(VOCABULARY, 0..=VOCABULARY.len()),
        proptest::sample::subsequence(vec![10u8, 11, 12], 0..=3),
        members,
    )
        .prop_map(|(default_action, tags, providers, mut members)| {
            members.sort_by(|a, b| a.name.cmp(&b.name));
            Manifest {
                default_action,
                tags: tags.into_iter().map(String::from).collect(),
                providers: providers.into_iter().map(addr).collect(),
                members,
            }
        })
}

fn network() -> NetworkResponse {
    NetworkResponse {
        id: 7,
        owner: cosmwasm_std::Addr::unchecked(addr(OWNER)),
        name: "demo".into(),
        cidr: "100.64.0.0/24".into(),
        cidr6: Some("fd00:1::/64".into()),
        default_action: Action::Deny,
        tags: vec![],
        start_time: None,
        end_time: None,
        status: NetworkStatus::Open,
        revision: 1,
        member_count: 0,
        created_at: cosmwasm_std::Timestamp::from_nanos(0),
    }
}

/// The chain's export may name tags no longer in the vocabulary only if
/// the contract allowed it; keep generated exports consistent with it.
fn consistent(mut m: Manifest) -> Manifest {
    for t in VOCABULARY {
        if !m.tags.contains(&t.to_string()) {
            m.tags.push(t.to_string());
        }
    }
    m
}

/// What `desired` becomes on chain, as `Plan::apply_to` reports it.
fn normalized(desired: &Manifest, current: &Manifest) -> Manifest {
    let mut out = desired.clone();
    out.providers.sort();
    out.providers.dedup();
    for m in &mut out.members {
        if let Some(c) = current.members.iter().find(|c| c.name == m.name) {
            m.ip = c.ip.clone();
        }
    }
    out.members.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// An edit of the chain's state the contract accepts: members dropped,
/// kept, re-policied, or (owner's) rebound, retagged and reweighted; new members of
/// the owner; vocabulary, default and providers changed.
fn edited(current: Manifest) -> impl Strategy<Value = (Manifest, Manifest)> {
    let n = current.members.len();
    let edits = proptest::collection::vec((0u8..4, any::<bool>(), member("_".into(), 0, OWNER)), n);
    let new =
        proptest::sample::subsequence(vec!["n-1", "n-2", "n-3"], 0..=3).prop_flat_map(|names| {
            names
                .into_iter()
                .map(|n| member(n.to_owned(), 0, OWNER))
                .collect::<Vec<_>>()
        });
    let top = (
        prop_oneof![Just(Action::Allow), Just(Action::Deny)],
        proptest::sample::subsequence(VOCABULARY, 0..=VOCABULARY.len()),
        proptest::sample::subsequence(vec![10u8, 11, 12], 0..=3),
    );
    (edits, new, top).prop_map(move |(edits, new, (default_action, tags, providers))| {
        let owner = addr(OWNER);
        let mut members = Vec::new();
        for (m, (choice, keep_ip, cand)) in current.members.iter().zip(edits) {
            let mut m = m.clone();
            if !keep_ip {
                m.ip = None;
            }
            match choice {
                0 => continue,
                1 => {}
                2 => m.policy = cand.policy,
                _ if m.lease.owner == owner => {
                    m.lease = cand.lease;
                    m.tags = cand.tags;
                    m.service = cand.service;
                    m.weight = cand.weight;
                    m.policy = cand.policy;
                }
                _ => m.policy = cand.policy,
            }
            members.push(m);
        }
        for mut m in new {
            m.ip = None;
            members.push(m);
        }
        members.reverse(); // the file's order is the tenant's
        let desired = Manifest {
            default_action,
            tags: tags.into_iter().map(String::from).collect(),
            providers: providers.into_iter().rev().map(addr).collect(),
            members,
        };
        (current.clone(), desired)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// plan(export(x), x) is empty, through YAML and JSON.
    #[test]
    fn export_plans_no_change(x in chain_manifest().prop_map(consistent), json in any::<bool>()) {
        let doc = Document::from_chain(&network(), &x);
        let format = if json { Format::Json } else { Format::Yaml };
        let text = yaml::to_string(&doc, format).unwrap();
        let back = parse(&text, format).unwrap();
        prop_assert_eq!(&back, &doc, "{}", text);
        let desired = back.to_desired().unwrap();
        let p = plan(Some(&x), &desired.manifest, &addr(OWNER)).unwrap();
        prop_assert!(p.is_empty(), "{:?}\n{}", p, text);
        // Deterministic: the same state exports the same text.
        let mut shuffled = x.clone();
        shuffled.members.reverse();
        shuffled.providers.reverse();
        prop_assert_eq!(yaml::to_string(&Document::from_chain(&network(), &shuffled), format).unwrap(), text);
    }

    /// Applying a plan's changes to the current state gives the desired manifest.
    #[test]
    fn plan_applied_gives_desired((current, desired) in chain_manifest().prop_flat_map(edited)) {
        let p = plan(Some(&current), &desired, &addr(OWNER)).unwrap();
        let want = normalized(&desired, &current);
        prop_assert_eq!(p.apply_to(&current), want.clone());
        let unchanged = {
            let mut c = current.clone();
            c.providers.sort();
            c == want
        };
        prop_assert_eq!(p.is_empty(), unchanged);
        // A new network: everything is added.
        let fresh = plan(None, &desired, &addr(OWNER));
        if desired.members.iter().all(|m| m.lease.owner == addr(OWNER)) {
            let fresh = fresh.unwrap();
            prop_assert!(fresh.create);
            prop_assert!(fresh.members.iter().all(|m| matches!(m, MemberPlan::Add(_))));
            prop_assert_eq!(fresh.members.len(), desired.members.len());
        } else {
            prop_assert!(fresh.is_err());
        }
    }
}
