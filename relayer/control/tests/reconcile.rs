//! Reconciler driven by a scripted feed of chain states: each step edits a
//! `ChainView` the way a contract change would, builds the desired state and
//! asserts the exact changes handed to a recording data plane.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use avpn_control::desired::{self, VerdictCache};
use avpn_control::lease::{LeaseError, LeaseVerdict, LeaseVerifier, Refusal, Verification};
use avpn_control::reconcile::Reconciler;
use avpn_control::view::{ChainView, NetworkSnapshot};
use avpn_model::{
    Attachment, AttachmentMode, Change, DataPlane, DataPlaneError, LeaseId, MemberInfo,
    NetworkInfo, OverlayKey, PeerInfo, PeerSelector, Policy, PortRange, Protocol, Rule, Verdict,
};
use cosmwasm_std::{Addr, Binary, Timestamp};
use network_registry::msg as reg;
use provider_directory::msg as dir;

const LOCAL: &str = "akash1local";
const PEER: &str = "akash1peer";
const OWNER: &str = "akash1owner";
const GUEST: &str = "akash1guest";

/// Records every change; fails those matching `fail`.
#[derive(Default)]
struct Recorder {
    log: Vec<Change>,
    fail: Option<fn(&Change) -> bool>,
}

impl DataPlane for Recorder {
    async fn apply(&mut self, change: Change) -> Result<(), DataPlaneError> {
        if self.fail.is_some_and(|f| f(&change)) {
            return Err(DataPlaneError::UnknownNetwork(0));
        }
        self.log.push(change);
        Ok(())
    }
}

/// Refuses leases with dseq 99, verifies the rest.
struct Scripted;

impl LeaseVerifier for Scripted {
    async fn verify(&self, lease: &LeaseId, local: &str) -> Result<LeaseVerdict, LeaseError> {
        assert_eq!(lease.provider, local, "only local leases are verified");
        Ok(if lease.dseq == 99 {
            LeaseVerdict::Refused(Refusal::NotFound)
        } else {
            LeaseVerdict::Verified
        })
    }
    fn mode(&self) -> &'static str {
        "scripted"
    }
}

fn network(id: u64, revision: u64) -> reg::NetworkResponse {
    reg::NetworkResponse {
        id,
        owner: Addr::unchecked(OWNER),
        name: format!("net{id}"),
        cidr: "100.64.0.0/24".into(),
        cidr6: None,
        default_action: reg::Action::Deny,
        tags: vec![],
        start_time: None,
        end_time: None,
        status: reg::NetworkStatus::Open,
        revision,
        member_count: 0,
        created_at: Timestamp::from_seconds(1),
    }
}

/// A member on lease `owner/dseq/1/1/provider/0` (its owner added it).
fn member(name: &str, ip: &str, dseq: u64, provider: &str, owner: &str) -> reg::MemberResponse {
    reg::MemberResponse {
        name: name.into(),
        ip: ip.into(),
        ip6: None,
        lease: reg::LeaseId {
            owner: owner.into(),
            dseq,
            gseq: 1,
            oseq: 1,
            provider: provider.into(),
            bseq: 0,
        },
        tags: vec!["web".into()],
        service: None,
        weight: None,
    }
}

/// The local lease `owner/dseq/1/1/LOCAL/0` (an attachment file's key).
fn local(owner: &str, dseq: u64) -> LeaseId {
    LeaseId {
        owner: owner.into(),
        dseq,
        gseq: 1,
        oseq: 1,
        provider: LOCAL.into(),
        bseq: 0,
    }
}

fn allow_tcp(port: u16) -> reg::Policy {
    reg::Policy {
        ingress: vec![reg::Rule {
            peers: reg::Peers::Any,
            protocol: reg::Protocol::Tcp,
            ports: Some(reg::PortRange {
                start: port,
                end: port,
            }),
            action: reg::Action::Allow,
        }],
        egress: vec![],
    }
}

fn record(addr: &str, key: u8, previous: Option<(u8, u64)>) -> dir::ProviderRecord {
    dir::ProviderRecord {
        address: Addr::unchecked(addr),
        overlay_key: Binary::from(vec![key; 32]),
        previous_key: previous.map(|(k, until)| dir::PreviousKey {
            key: Binary::from(vec![k; 32]),
            valid_until: Timestamp::from_seconds(until),
        }),
        endpoints: vec!["198.18.0.2:7000".into()],
        region: None,
        relay: false,
        registered_at: Timestamp::from_seconds(1),
        updated_at: Timestamp::from_seconds(1),
    }
}

fn info(m: &reg::MemberResponse, p: &reg::Policy) -> MemberInfo {
    desired::member_info(1, "100.64.0.0/24".parse().unwrap(), None, m, p).unwrap()
}

fn net_info(revision: u64) -> NetworkInfo {
    NetworkInfo {
        id: 1,
        name: "net1".into(),
        owner: OWNER.into(),
        revision,
        cidr: "100.64.0.0/24".parse().unwrap(),
        cidr6: None,
        default_verdict: Verdict::Deny,
    }
}

fn peer(key: u8, previous: Option<(u8, u64)>) -> PeerInfo {
    let mut keys = vec![OverlayKey {
        key: [key; 32],
        valid_until: None,
    }];
    if let Some((k, until)) = previous {
        keys.push(OverlayKey {
            key: [k; 32],
            valid_until: Some(until),
        });
    }
    PeerInfo {
        provider: PEER.into(),
        keys,
        endpoints: vec!["198.18.0.2:7000".parse().unwrap()],
    }
}

fn tun(n: u64) -> Attachment {
    Attachment {
        netns: format!("/run/netns/lease-{n}").into(),
        mode: AttachmentMode::Transparent,
    }
}

struct Harness<V> {
    view: ChainView,
    attachments: HashMap<LeaseId, Attachment>,
    verifier: V,
    cache: VerdictCache,
    reconciler: Reconciler,
    dp: Recorder,
}

impl<V: LeaseVerifier> Harness<V> {
    fn new(verifier: V) -> Self {
        let mut view = ChainView {
            height: 10,
            time: 1_000,
            ..Default::default()
        };
        view.providers
            .insert(LOCAL.into(), Some(record(LOCAL, 1, None)));
        view.providers
            .insert(PEER.into(), Some(record(PEER, 2, None)));
        Harness {
            view,
            attachments: HashMap::new(),
            verifier,
            cache: VerdictCache::new(),
            reconciler: Reconciler::new(),
            dp: Recorder::default(),
        }
    }

    /// Builds, reconciles, returns the changes of this step.
    async fn step(&mut self) -> (Vec<Change>, desired::Built) {
        self.dp.log.clear();
        let built = desired::build(
            &self.view,
            LOCAL,
            &self.verifier,
            &mut self.cache,
            &self.attachments,
        )
        .await
        .unwrap();
        let report = self.reconciler.reconcile(&built.state, &mut self.dp).await;
        assert_eq!(report.applied, self.dp.log);
        (std::mem::take(&mut self.dp.log), built)
    }

    fn set_network(&mut self, revision: u64, members: Vec<(reg::MemberResponse, reg::Policy)>) {
        let providers = self
            .view
            .networks
            .get(&1)
            .map(|n| n.providers.clone())
            .unwrap_or_default();
        self.view.networks.insert(
            1,
            NetworkSnapshot {
                network: network(1, revision),
                members,
                services: vec![],
                // Authorizations outlive the member changes of a step.
                providers,
            },
        );
    }

    /// Sets the providers the owner of network 1 authorized (revision unchanged).
    fn authorize(&mut self, providers: &[&str]) {
        self.view.networks.get_mut(&1).unwrap().providers =
            providers.iter().map(|p| p.to_string()).collect();
    }
}

#[tokio::test]
async fn scripted_chain_states_produce_exact_changes() {
    let mut h = Harness::new(Verification::Off);
    let a = member("a", "100.64.0.2", 1, LOCAL, OWNER);
    let b = member("b", "100.64.0.3", 2, PEER, OWNER);
    let deny = reg::Policy::default();
    h.attachments.insert(local(OWNER, 1), tun(1));

    // add: a local member (attached) and a remote one (not attached, its provider becomes a peer)
    h.set_network(
        1,
        vec![(a.clone(), deny.clone()), (b.clone(), deny.clone())],
    );
    let (changes, built) = h.step().await;
    assert_eq!(
        changes,
        vec![
            Change::SetPeer(peer(2, None)),
            Change::SetNetwork(net_info(1)),
            Change::SetMember(1, info(&a, &deny)),
            Change::SetMember(1, info(&b, &deny)),
            Change::Attach(1, "a".into(), tun(1)),
        ]
    );
    assert!(built.unattached.is_empty());

    // same state again: nothing to do
    assert_eq!(h.step().await.0, vec![]);

    // policy change on b
    let web = allow_tcp(80);
    h.set_network(2, vec![(a.clone(), deny.clone()), (b.clone(), web.clone())]);
    let (changes, _) = h.step().await;
    assert_eq!(
        changes,
        vec![
            Change::SetNetwork(net_info(2)),
            Change::SetMember(1, info(&b, &web))
        ]
    );
    let Change::SetMember(_, m) = &changes[1] else {
        unreachable!()
    };
    assert_eq!(
        m.policy,
        Policy {
            ingress: vec![Rule {
                peers: PeerSelector::Any,
                protocol: Protocol::Tcp,
                ports: PortRange::new(80, 80).unwrap(),
                verdict: Verdict::Allow
            }],
            egress: vec![]
        }
    );

    // rebind a to the peer's lease: detached here first, IP kept
    let a_moved = member("a", "100.64.0.2", 7, PEER, OWNER);
    h.set_network(
        3,
        vec![(a_moved.clone(), deny.clone()), (b.clone(), web.clone())],
    );
    assert_eq!(
        h.step().await.0,
        vec![
            Change::SetNetwork(net_info(3)),
            Change::Detach(1, "a".into()),
            Change::SetMember(1, info(&a_moved, &deny)),
        ]
    );

    // rebind b onto a local lease that has an attachment file
    let b_here = member("b", "100.64.0.3", 8, LOCAL, OWNER);
    h.attachments.insert(local(OWNER, 8), tun(8));
    h.set_network(
        4,
        vec![
            (a_moved.clone(), deny.clone()),
            (b_here.clone(), web.clone()),
        ],
    );
    assert_eq!(
        h.step().await.0,
        vec![
            Change::SetNetwork(net_info(4)),
            Change::SetMember(1, info(&b_here, &web)),
            Change::Attach(1, "b".into(), tun(8)),
        ]
    );

    // key rotation of the peer: new key plus the old one until the deadline
    h.view
        .providers
        .insert(PEER.into(), Some(record(PEER, 3, Some((2, 5_000)))));
    assert_eq!(
        h.step().await.0,
        vec![Change::SetPeer(peer(3, Some((2, 5_000))))]
    );

    // a participant joins with a local member, then is removed (its members go with it)
    let g = member("g", "100.64.0.4", 9, LOCAL, GUEST);
    h.attachments.insert(local(GUEST, 9), tun(9));
    h.set_network(
        5,
        vec![
            (a_moved.clone(), deny.clone()),
            (b_here.clone(), web.clone()),
            (g.clone(), deny.clone()),
        ],
    );
    assert_eq!(
        h.step().await.0,
        vec![
            Change::SetNetwork(net_info(5)),
            Change::SetMember(1, info(&g, &deny)),
            Change::Attach(1, "g".into(), tun(9)),
        ]
    );
    h.set_network(
        6,
        vec![
            (a_moved.clone(), deny.clone()),
            (b_here.clone(), web.clone()),
        ],
    );
    assert_eq!(
        h.step().await.0,
        vec![
            Change::SetNetwork(net_info(6)),
            Change::Detach(1, "g".into()),
            Change::RemoveMember(1, "g".into())
        ]
    );

    // remove the remote member: the peer no longer shares a network and goes last
    h.set_network(7, vec![(b_here.clone(), web.clone())]);
    assert_eq!(
        h.step().await.0,
        vec![
            Change::SetNetwork(net_info(7)),
            Change::RemoveMember(1, "a".into()),
            Change::RemovePeer(PEER.into())
        ]
    );

    // attachment file changes mode: detach then attach again
    let userspace = Attachment {
        netns: "/run/netns/lease-8".into(),
        mode: AttachmentMode::Userspace {
            socks: "127.0.0.1:1080".parse().unwrap(),
            serve: BTreeMap::new(),
            serve_udp: BTreeMap::new(),
        },
    };
    h.attachments.insert(local(OWNER, 8), userspace.clone());
    assert_eq!(
        h.step().await.0,
        vec![
            Change::Detach(1, "b".into()),
            Change::Attach(1, "b".into(), userspace)
        ]
    );

    // close: the network disappears from the provider view
    h.view.networks.clear();
    assert_eq!(h.step().await.0, vec![Change::RemoveNetwork(1)]);
    assert!(h.reconciler.applied().networks.is_empty());
    assert!(h.reconciler.applied().peers.is_empty());
}

/// A member's weight reaches the data plane as a `SetMember` carrying it,
/// and the member stays attached (a weight change is no move).
#[tokio::test]
async fn a_weight_change_sets_the_member_and_keeps_it_attached() {
    let mut h = Harness::new(Verification::Off);
    let light = member("a", "100.64.0.2", 1, LOCAL, OWNER);
    let deny = reg::Policy::default();
    h.attachments.insert(local(OWNER, 1), tun(1));
    h.set_network(1, vec![(light.clone(), deny.clone())]);
    h.step().await;
    let heavy = reg::MemberResponse {
        weight: Some(250),
        ..light.clone()
    };
    for (revision, m, weight) in [(2, &heavy, Some(250)), (3, &light, None)] {
        h.set_network(revision, vec![(m.clone(), deny.clone())]);
        let (changes, _) = h.step().await;
        assert_eq!(
            changes,
            vec![
                Change::SetNetwork(net_info(revision)),
                Change::SetMember(1, info(m, &deny)),
            ]
        );
        let Change::SetMember(_, set) = &changes[1] else {
            unreachable!()
        };
        assert_eq!(set.weight, weight);
    }
    // The same weight again: nothing to do.
    assert_eq!(h.step().await.0, vec![]);
}

#[tokio::test]
async fn refused_leases_bad_records_and_missing_attachments() {
    let mut h = Harness::new(Scripted);
    let ok = member("ok", "100.64.0.2", 1, LOCAL, OWNER);
    let refused = member("stolen", "100.64.0.3", 99, LOCAL, GUEST);
    let bad_ip = member("bad", "100.65.0.9", 3, PEER, OWNER);
    let dup = member("dup", "100.64.0.2", 4, PEER, OWNER);
    let p = reg::Policy::default();
    h.set_network(
        1,
        vec![
            (ok.clone(), p.clone()),
            (refused, p.clone()),
            (bad_ip, p.clone()),
            (dup, p.clone()),
        ],
    );
    let (changes, built) = h.step().await;
    assert_eq!(
        changes,
        vec![
            Change::SetNetwork(net_info(1)),
            Change::SetMember(1, info(&ok, &p))
        ]
    );
    assert_eq!(built.refused.len(), 1);
    assert_eq!(built.refused[0].member, "stolen");
    assert_eq!(built.unattached, vec![(1, "ok".to_string())]);
    assert_eq!(built.rejected.len(), 2, "{:?}", built.rejected);
    assert!(matches!(
        built.rejected[0],
        desired::RecordError::MemberIp { .. }
    ));
    assert!(matches!(
        built.rejected[1],
        desired::RecordError::DuplicateIp { .. }
    ));

    // a network with a malformed CIDR is skipped entirely
    let mut broken = network(2, 1);
    broken.cidr = "100.64.0.1/24".into();
    h.view.networks.insert(
        2,
        NetworkSnapshot {
            network: broken,
            members: vec![],
            services: vec![],
            providers: vec![],
        },
    );
    let (changes, built) = h.step().await;
    assert_eq!(changes, vec![]);
    assert!(
        built
            .rejected
            .iter()
            .any(|r| matches!(r, desired::RecordError::Cidr { network: 2, .. }))
    );

    // an unusable directory record (short key) leaves the member without a peer
    h.view.providers.insert(
        PEER.into(),
        Some(dir::ProviderRecord {
            overlay_key: Binary::from(vec![1; 5]),
            ..record(PEER, 2, None)
        }),
    );
    let remote = member("r", "100.64.0.9", 5, PEER, OWNER);
    h.set_network(
        2,
        vec![(ok.clone(), p.clone()), (remote.clone(), p.clone())],
    );
    let (changes, built) = h.step().await;
    assert_eq!(
        changes,
        vec![
            Change::SetNetwork(net_info(2)),
            Change::SetMember(1, info(&remote, &p))
        ]
    );
    assert!(
        built
            .rejected
            .iter()
            .any(|r| matches!(r, desired::RecordError::Provider { .. }))
    );
}

#[tokio::test]
async fn failed_changes_are_retried_until_applied() {
    let mut h = Harness::new(Verification::Off);
    h.dp.fail = Some(|c| matches!(c, Change::SetMember(..)));
    let a = member("a", "100.64.0.2", 2, PEER, OWNER);
    let p = reg::Policy::default();
    h.set_network(1, vec![(a.clone(), p.clone())]);
    let (changes, _) = h.step().await;
    assert_eq!(
        changes,
        vec![
            Change::SetPeer(peer(2, None)),
            Change::SetNetwork(net_info(1))
        ]
    );
    h.dp.fail = None;
    assert_eq!(h.step().await.0, vec![Change::SetMember(1, info(&a, &p))]);
    assert_eq!(h.step().await.0, vec![]);
}

#[tokio::test]
async fn time_boxed_networks_are_served_only_inside_their_window() {
    let mut h = Harness::new(Verification::Off);
    let mut n = network(1, 1);
    n.start_time = Some(Timestamp::from_seconds(2_000));
    h.view.networks.insert(
        1,
        NetworkSnapshot {
            network: n.clone(),
            members: vec![],
            services: vec![],
            providers: vec![],
        },
    );
    assert_eq!(h.step().await.0, vec![]);
    h.view.time = 2_000;
    assert_eq!(h.step().await.0, vec![Change::SetNetwork(net_info(1))]);
    n.end_time = Some(Timestamp::from_seconds(3_000));
    h.view.networks.insert(
        1,
        NetworkSnapshot {
            network: n,
            members: vec![],
            services: vec![],
            providers: vec![],
        },
    );
    h.view.time = 3_000;
    assert_eq!(h.step().await.0, vec![Change::RemoveNetwork(1)]);
}

const RELAY: &str = "akash1relay";
const PEER2: &str = "akash1peer2";

/// A directory record of `addr` announcing the relay capability.
fn relay_record(addr: &str, key: u8) -> dir::ProviderRecord {
    dir::ProviderRecord {
        relay: true,
        ..record(addr, key, None)
    }
}

fn peer_of(rec: &dir::ProviderRecord) -> PeerInfo {
    desired::peer_info(rec).unwrap()
}

fn set(providers: &[&str]) -> BTreeSet<String> {
    providers.iter().map(|p| p.to_string()).collect()
}

/// Relays are the authorized providers announcing the capability; they
/// become peers before the network names them and go last when they lose
/// either (revocation, capability withdrawn in the directory). A provider
/// that also hosts a member stays a peer.
#[tokio::test]
async fn authorized_relay_capable_providers_are_relays_and_peers() {
    let mut h = Harness::new(Verification::Off);
    let relay = relay_record(RELAY, 5);
    h.view.providers.insert(RELAY.into(), Some(relay.clone()));
    let a = member("a", "100.64.0.2", 1, LOCAL, OWNER);
    let b = member("b", "100.64.0.3", 2, PEER, OWNER);
    let p = reg::Policy::default();
    let members = vec![(a.clone(), p.clone()), (b.clone(), p.clone())];

    // a relay-capable provider the owner did not authorize is nothing here
    h.set_network(1, members.clone());
    let (changes, _) = h.step().await;
    assert_eq!(
        changes,
        vec![
            Change::SetPeer(peer(2, None)),
            Change::SetNetwork(net_info(1)),
            Change::SetMember(1, info(&a, &p)),
            Change::SetMember(1, info(&b, &p)),
        ]
    );

    // the owner authorizes it and PEER (not relay-capable): only RELAY relays
    h.authorize(&[PEER, RELAY]);
    h.set_network(2, members.clone());
    assert_eq!(
        h.step().await.0,
        vec![
            Change::SetPeer(peer_of(&relay)),
            Change::SetNetwork(net_info(2)),
            Change::SetRelays(1, set(&[RELAY])),
        ]
    );
    assert_eq!(h.reconciler.applied().networks[&1].relays, set(&[RELAY]));

    // the relay withdraws the capability in the directory (no revision
    // change): no longer a relay, and with no other role no longer a peer
    h.view
        .providers
        .insert(RELAY.into(), Some(record(RELAY, 5, None)));
    assert_eq!(
        h.step().await.0,
        vec![
            Change::SetRelays(1, set(&[])),
            Change::RemovePeer(RELAY.into()),
        ]
    );
    h.view.providers.insert(RELAY.into(), Some(relay.clone()));
    assert_eq!(
        h.step().await.0,
        vec![
            Change::SetPeer(peer_of(&relay)),
            Change::SetRelays(1, set(&[RELAY])),
        ]
    );

    // PEER announces the capability too: a relay, already a peer
    h.view
        .providers
        .insert(PEER.into(), Some(relay_record(PEER, 2)));
    assert_eq!(
        h.step().await.0,
        vec![Change::SetRelays(1, set(&[PEER, RELAY]))]
    );

    // the owner revokes both: RELAY goes, PEER stays a peer (it hosts b)
    h.authorize(&[]);
    h.set_network(3, members);
    assert_eq!(
        h.step().await.0,
        vec![
            Change::SetNetwork(net_info(3)),
            Change::SetRelays(1, set(&[])),
            Change::RemovePeer(RELAY.into()),
        ]
    );
    let applied = h.reconciler.applied();
    assert_eq!(
        applied.peers.keys().cloned().collect::<BTreeSet<_>>(),
        set(&[PEER])
    );
    assert!(applied.networks[&1].relays.is_empty());
}

/// This provider relays for a network (authorized, relay-capable, hosting
/// nothing of it; it serves it by consent): the network names it as a
/// relay, its peers are the providers hosting members, never itself.
#[tokio::test]
async fn a_relay_peers_with_the_hosting_providers_of_its_networks() {
    let mut h = Harness::new(Verification::Off);
    h.view
        .providers
        .insert(LOCAL.into(), Some(relay_record(LOCAL, 1)));
    let peer2 = record(PEER2, 3, None);
    h.view.providers.insert(PEER2.into(), Some(peer2.clone()));
    let b = member("b", "100.64.0.3", 2, PEER, OWNER);
    let c = member("c", "100.64.0.4", 3, PEER2, OWNER);
    let p = reg::Policy::default();
    h.set_network(1, vec![(b.clone(), p.clone()), (c.clone(), p.clone())]);
    h.authorize(&[LOCAL]);
    let (changes, built) = h.step().await;
    assert_eq!(
        changes,
        vec![
            Change::SetPeer(peer(2, None)),
            Change::SetPeer(peer_of(&peer2)),
            Change::SetNetwork(net_info(1)),
            Change::SetRelays(1, set(&[LOCAL])),
            Change::SetMember(1, info(&b, &p)),
            Change::SetMember(1, info(&c, &p)),
        ]
    );
    assert!(built.rejected.is_empty(), "{:?}", built.rejected);
    assert_eq!(
        h.reconciler
            .applied()
            .peers
            .keys()
            .cloned()
            .collect::<BTreeSet<_>>(),
        set(&[PEER, PEER2])
    );
}
