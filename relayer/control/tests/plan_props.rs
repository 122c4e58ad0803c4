//! Property: for any applied and desired state, recording the plan's changes
//! onto the applied state yields exactly the desired state; a second plan is
//! empty; and the plan is ordered (peers before members and relay sets that
//! use them, networks before their members and relays, members before their
//! attachments, detaches before removals, removed peers last).

use std::collections::{BTreeMap, BTreeSet};

use avpn_control::reconcile::{plan, record};
use avpn_model::{
    Attachment, AttachmentMode, Change, DesiredState, LeaseId, MemberInfo, Network, NetworkInfo,
    OverlayKey, PeerInfo, Policy, Verdict,
};
use proptest::prelude::*;

const LOCAL: &str = "local";
const PROVIDERS: [&str; 3] = [LOCAL, "p1", "p2"];
const NAMES: [&str; 4] = ["a", "b", "c", "d"];

fn member(name: &str, ip: u8, provider: usize, dseq: u64, open: bool) -> MemberInfo {
    MemberInfo {
        name: name.into(),
        ip: [100, 64, 0, ip].into(),
        ip6: None,
        lease: LeaseId {
            owner: "akash1owner".into(),
            dseq,
            gseq: 1,
            oseq: 1,
            provider: PROVIDERS[provider].into(),
            bseq: 0,
        },
        tags: BTreeSet::new(),
        service: None,
        policy: if open {
            Policy {
                ingress: vec![],
                egress: vec![],
            }
        } else {
            Policy::default()
        },
        weight: None,
    }
}

fn network() -> impl Strategy<Value = Network> {
    (
        any::<bool>(),
        0u64..3,
        prop::collection::vec(
            (
                any::<bool>(),
                0usize..3,
                1u64..3,
                any::<bool>(),
                any::<bool>(),
                any::<bool>(),
            ),
            4,
        ),
        prop::collection::vec(any::<bool>(), PROVIDERS.len()),
    )
        .prop_map(|(allow, revision, slots, relaying)| {
            let mut members = BTreeMap::new();
            let mut attachments = BTreeMap::new();
            for (i, (present, provider, dseq, open, attached, userspace)) in
                slots.into_iter().enumerate()
            {
                if !present {
                    continue;
                }
                let name = NAMES[i];
                members.insert(
                    name.to_owned(),
                    member(name, 2 + i as u8, provider, dseq, open),
                );
                if provider == 0 && attached {
                    let mode = if userspace {
                        AttachmentMode::Userspace {
                            socks: "127.0.0.1:1080".parse().unwrap(),
                            serve: BTreeMap::new(),
                            serve_udp: BTreeMap::new(),
                        }
                    } else {
                        AttachmentMode::Transparent
                    };
                    attachments.insert(
                        name.to_owned(),
                        Attachment {
                            netns: format!("/run/netns/{dseq}").into(),
                            mode,
                        },
                    );
                }
            }
            Network {
                info: NetworkInfo {
                    id: 0,
                    name: "net".into(),
                    owner: "akash1owner".into(),
                    revision,
                    cidr: "100.64.0.0/24".parse().unwrap(),
                    cidr6: None,
                    default_verdict: if allow { Verdict::Allow } else { Verdict::Deny },
                },
                members,
                attachments,
                services: Default::default(),
                relays: PROVIDERS
                    .iter()
                    .zip(relaying)
                    .filter(|(_, r)| *r)
                    .map(|(p, _)| p.to_string())
                    .collect(),
            }
        })
}

fn state() -> impl Strategy<Value = DesiredState> {
    (
        prop::collection::vec(prop::option::of(network()), 3),
        prop::collection::vec(0u8..3, 2),
    )
        .prop_map(|(nets, keys)| {
            let mut s = DesiredState::default();
            for (i, n) in nets.into_iter().enumerate() {
                if let Some(mut n) = n {
                    n.info.id = i as u64 + 1;
                    s.networks.insert(n.info.id, n);
                }
            }
            let hosting: BTreeSet<String> = s
                .networks
                .values()
                .flat_map(|n| {
                    n.members
                        .values()
                        .map(|m| &m.lease.provider)
                        .chain(&n.relays)
                        .cloned()
                })
                .filter(|p| p != LOCAL)
                .collect();
            for (i, p) in ["p1", "p2"].iter().enumerate() {
                if hosting.contains(*p) {
                    s.peers.insert(
                        p.to_string(),
                        PeerInfo {
                            provider: p.to_string(),
                            keys: vec![OverlayKey {
                                key: [keys[i]; 32],
                                valid_until: None,
                            }],
                            endpoints: vec![],
                        },
                    );
                }
            }
            s
        })
}

proptest! {
    #[test]
    fn plan_reaches_the_desired_state_in_a_valid_order(applied in state(), desired in state()) {
        let changes = plan(&applied, &desired);
        let mut s = applied.clone();
        for (i, c) in changes.iter().enumerate() {
            // ordering invariants, checked against the state just before the change
            match c {
                Change::SetMember(n, m) => {
                    prop_assert!(s.networks.contains_key(n), "member before its network: {c:?}");
                    if m.lease.provider != LOCAL {
                        prop_assert!(s.peers.contains_key(&m.lease.provider), "member before its peer: {c:?}");
                    }
                }
                Change::Attach(n, name, _) => {
                    let m = s.networks.get(n).and_then(|net| net.members.get(name));
                    prop_assert!(m.is_some_and(|m| m.lease.provider == LOCAL), "attach of a non-local or absent member: {c:?}");
                }
                Change::RemoveMember(n, name) => {
                    prop_assert!(!s.networks[n].attachments.contains_key(name), "member removed before detach: {c:?}");
                }
                Change::SetRelays(n, relays) => {
                    prop_assert!(s.networks.contains_key(n), "relays before their network: {c:?}");
                    for r in relays.iter().filter(|r| *r != LOCAL) {
                        prop_assert!(s.peers.contains_key(r), "relay before its peer: {c:?}");
                    }
                }
                Change::RemovePeer(p) => {
                    prop_assert!(changes[i + 1..].iter().all(|c| matches!(c, Change::RemovePeer(_))));
                    prop_assert!(!desired.networks.values().any(|n| n.members.values().any(|m| &m.lease.provider == p)));
                    prop_assert!(!desired.networks.values().any(|n| n.relays.contains(p)));
                }
                _ => {}
            }
            record(&mut s, c);
        }
        prop_assert_eq!(&s, &desired);
        prop_assert!(plan(&s, &desired).is_empty());
    }
}
