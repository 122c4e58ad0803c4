//! Attacks on a relayer's control plane, one test each, driven through the
//! real controller against an in-process fake node (registry, directory
//! and Akash market scripted in memory, every query logged) with a
//! recording data plane. Each test asserts that the attack fails and that
//! the data plane saw nothing of it.

mod common;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use avpn_control::controller::{Applied, Controller, ControllerConfig};
use avpn_control::lease::{self, Verification};
use avpn_control::metrics::Metrics;
use avpn_control::query::Querier;
use avpn_control::status::ControlStatus;
use avpn_control::view::{Consent, Source};
use avpn_control::watcher::{ResyncReason, Trigger};
use avpn_model::Change;
use network_registry::msg as reg;
use tokio::sync::{mpsc, watch};

use common::fake::*;
use common::{Recorder, TempDir, write_attachment};

const LOCAL: &str = "akash1local";
const PEER: &str = "akash1peer";
const ALICE: &str = "akash1alice";
const BOB: &str = "akash1bob";
const MALLORY: &str = "akash1mallory";
const EVE: &str = "akash1eve";

/// A controller of provider `LOCAL` over a scripted chain.
struct World {
    chain: Arc<Mutex<Chain>>,
    att: TempDir,
    dp: Arc<tokio::sync::Mutex<Recorder>>,
    applied: watch::Receiver<Applied>,
    status: Arc<std::sync::Mutex<ControlStatus>>,
    tx: mpsc::Sender<Trigger>,
    task: tokio::task::JoinHandle<()>,
    /// Changes of the first full read.
    first: Vec<Change>,
    _node: FakeNode,
}

impl Drop for World {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A chain at height 10 where `LOCAL` and `PEER` are registered.
fn chain() -> Chain {
    let mut c = Chain {
        height: 10,
        ..Chain::default()
    };
    c.providers.insert(LOCAL.into(), record(LOCAL, 1));
    c.providers.insert(PEER.into(), record(PEER, 2));
    c
}

/// Active market leases of `LOCAL`: (owner, dseq).
fn active(c: &mut Chain, leases: &[(&str, u64)]) {
    for (owner, dseq) in leases {
        c.market.push(MarketLease {
            id: market_lease(owner, *dseq, LOCAL, 0),
            state: lease::proto::STATE_ACTIVE,
        });
    }
}

fn ns(name: &str) -> String {
    format!("/run/netns/{name}")
}

impl World {
    /// Starts a controller over `chain` with lease verification on (or
    /// off), the given attachment files `(file, owner, dseq, netns)` and
    /// consent, and waits for its first full read.
    async fn start(
        chain: Chain,
        files: &[(&str, &str, u64, &str)],
        verify: bool,
        consent: Consent,
    ) -> World {
        let chain = Arc::new(Mutex::new(chain));
        let node = chain_node(chain.clone()).await;
        let att = TempDir::new("avpn-attacks");
        for (file, owner, dseq, netns) in files {
            write_attachment(&att.0, file, owner, *dseq, 0, &ns(netns));
        }
        let querier = Querier::new(fake_endpoint(&node.url, CHAIN)).unwrap();
        let source = Source {
            querier: querier.clone(),
            registry: REGISTRY.into(),
            directory: DIRECTORY.into(),
            provider: LOCAL.into(),
        };
        let verifier = if verify {
            Verification::Market(Box::new(querier))
        } else {
            Verification::Off
        };
        let cfg = ControllerConfig {
            attachments_dir: Some(att.0.clone()),
            data_dir: None,
            // attachments are re-read at every step; no background polls
            attachments_poll: Duration::from_secs(3600),
            retry_after: Duration::from_millis(50),
            consent,
        };
        let dp = Arc::new(tokio::sync::Mutex::new(Recorder::default()));
        let ctl = Controller::new(source, verifier, dp.clone(), cfg, Metrics::default());
        let applied = ctl.applied();
        let status = ctl.status();
        let (tx, rx) = mpsc::channel(16);
        let task = tokio::spawn(ctl.run(rx));
        let mut w = World {
            chain,
            att,
            dp,
            applied,
            status,
            tx,
            task,
            first: Vec::new(),
            _node: node,
        };
        w.first = w.step(|_| Trigger::Resync(ResyncReason::Start)).await;
        w
    }

    fn edit(&self, f: impl FnOnce(&mut Chain)) {
        f(&mut self.chain.lock().unwrap());
    }

    fn chain(&self) -> std::sync::MutexGuard<'_, Chain> {
        self.chain.lock().unwrap()
    }

    fn status(&self) -> ControlStatus {
        self.status.lock().unwrap().clone()
    }

    /// Produces a block, sends the trigger made for its height, waits until
    /// the controller applied a read at that height; the changes the data
    /// plane received meanwhile.
    async fn step(&mut self, trigger: impl FnOnce(u64) -> Trigger) -> Vec<Change> {
        let height = {
            let mut c = self.chain.lock().unwrap();
            c.height += 1;
            c.height
        };
        self.dp.lock().await.0.clear();
        self.tx.send(trigger(height)).await.unwrap();
        self.until(|a| a.height >= height).await;
        std::mem::take(&mut self.dp.lock().await.0)
    }

    /// An event about `ids` naming `providers`.
    async fn event(&mut self, ids: &[u64], providers: &[&str]) -> Vec<Change> {
        let ids: BTreeSet<u64> = ids.iter().copied().collect();
        let providers: BTreeSet<String> = providers.iter().map(|p| p.to_string()).collect();
        self.step(|height| Trigger::Networks {
            height,
            ids,
            providers,
        })
        .await
    }

    /// Waits (10 s at most) until the applied state satisfies `ok`.
    async fn until(&mut self, ok: impl Fn(&Applied) -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            if ok(&self.applied.borrow_and_update()) {
                return;
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            assert!(!left.is_zero(), "controller did not get there in time");
            let _ = tokio::time::timeout(left, self.applied.changed()).await;
        }
    }

    /// Applied revision of network `id`.
    fn revision(&self, id: u64) -> Option<u64> {
        self.applied.borrow().revisions.get(&id).copied()
    }
}

/// The network a change is about (`None` for peers).
fn network_of(c: &Change) -> Option<u64> {
    match c {
        Change::SetNetwork(i) => Some(i.id),
        Change::RemoveNetwork(id)
        | Change::SetMember(id, _)
        | Change::RemoveMember(id, _)
        | Change::Attach(id, _, _)
        | Change::Detach(id, _)
        | Change::SetServices(id, _)
        | Change::SetRelays(id, _) => Some(*id),
        Change::SetPeer(_) | Change::RemovePeer(_) => None,
    }
}

fn about(changes: &[Change], id: u64) -> Vec<&Change> {
    changes
        .iter()
        .filter(|c| network_of(c) == Some(id))
        .collect()
}

/// Attachments made by `changes`: (network, member, netns).
fn attaches(changes: &[Change]) -> Vec<(u64, String, String)> {
    changes
        .iter()
        .filter_map(|c| match c {
            Change::Attach(n, m, a) => Some((*n, m.clone(), a.netns.display().to_string())),
            _ => None,
        })
        .collect()
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

/// Network 1 of alice (local member `a` on alice's lease 7, remote `r`) and
/// network 2 of bob (local member `b` on bob's lease 7: the same
/// dseq/gseq/oseq on the same provider).
fn two_tenants() -> Chain {
    let mut c = chain();
    let mut n1 = FakeNetwork::new(1, ALICE);
    n1.member("a", "100.64.0.2", reg_lease(ALICE, 7, LOCAL, 0))
        .member("r", "100.64.0.3", reg_lease(ALICE, 70, PEER, 0));
    let mut n2 = FakeNetwork::new(2, BOB);
    n2.member("b", "100.64.0.2", reg_lease(BOB, 7, LOCAL, 0));
    c.networks.insert(1, n1);
    c.networks.insert(2, n2);
    active(&mut c, &[(ALICE, 7), (BOB, 7)]);
    c
}

/// (a) Two tenants' leases share dseq/gseq/oseq on this provider: each
/// member goes into its own lease's namespace, and when bob's lease has no
/// attachment any more his member is not attached to alice's.
#[tokio::test]
async fn same_sequence_numbers_of_two_tenants_never_share_a_namespace() {
    let consent = Consent {
        networks: [2].into(),
        ..Consent::default()
    };
    let mut w = World::start(
        two_tenants(),
        &[
            ("alice.toml", ALICE, 7, "alice-7"),
            ("bob.toml", BOB, 7, "bob-7"),
        ],
        true,
        consent,
    )
    .await;
    let first = w.first.clone();
    assert_eq!(w.revision(1), Some(1));
    assert_eq!(w.revision(2), Some(1));
    let mut att = attaches(&first);
    att.sort();
    assert_eq!(
        att,
        vec![(1, "a".into(), ns("alice-7")), (2, "b".into(), ns("bob-7")),]
    );
    // each lease was verified with its own owner
    let mut asked: Vec<(String, u64)> = w
        .chain()
        .lease_queries()
        .into_iter()
        .map(|l| (l.owner, l.dseq))
        .collect();
    asked.sort();
    assert_eq!(asked, vec![(ALICE.into(), 7), (BOB.into(), 7)]);

    // bob's pod goes away: his member (network consented, still served)
    // stays unattached; alice's namespace with the same dseq/gseq/oseq is
    // never handed to it
    std::fs::remove_file(w.att.0.join("bob.toml")).unwrap();
    let changes = w.step(|_| Trigger::Resync(ResyncReason::Periodic)).await;
    assert_eq!(changes, vec![Change::Detach(2, "b".into())]);
    let st = w.status();
    assert!(st.unattached.contains(&"2/b".to_string()), "{st:?}");
    let row = &st.networks[&2].members[0];
    assert_eq!(
        (row.state.as_str(), row.lease.as_str()),
        ("local", "akash1bob/7/1/1/akash1local/0")
    );
    assert_eq!(st.networks[&1].members[0].state, "attached");

    // with only alice's lease here and no consent, bob's network is not
    // served (nor read) at all
    let w = World::start(
        two_tenants(),
        &[("alice.toml", ALICE, 7, "alice-7")],
        true,
        Consent::default(),
    )
    .await;
    let first = w.first.clone();
    assert!(about(&first, 2).is_empty(), "{first:#?}");
    assert_eq!(attaches(&first), vec![(1, "a".into(), ns("alice-7"))]);
    assert!(w.chain().reads_of(2).is_empty());
}

/// (b) Mallory binds a member to a lease id with her as owner but the
/// sequence numbers of alice's lease on this provider, and the attachment
/// tooling was misled into writing a file for that id: lease verification
/// refuses it (the market answers alice's lease, or none), so it is never
/// a member here nor attached. Without verification it would be.
#[tokio::test]
async fn a_member_on_another_tenants_lease_is_refused_and_not_attached() {
    let mut c = chain();
    let mut n3 = FakeNetwork::new(3, MALLORY);
    n3.member("legit", "100.64.0.2", reg_lease(MALLORY, 1, LOCAL, 0))
        .member("thief", "100.64.0.3", reg_lease(MALLORY, 5, LOCAL, 0));
    c.networks.insert(3, n3);
    active(&mut c, &[(MALLORY, 1), (ALICE, 5)]);
    // a market that finds leases by sequence numbers and answers the lease
    // it has, alice's
    c.market_ignores_owner = true;
    let files = [
        ("mallory-1.toml", MALLORY, 1, "mallory-1"),
        ("misled.toml", MALLORY, 5, "alice-5"),
    ];
    let mut w = World::start(c, &files, true, Consent::default()).await;
    let first = w.first.clone();
    assert_eq!(w.revision(3), Some(1));
    assert_eq!(attaches(&first), vec![(3, "legit".into(), ns("mallory-1"))]);
    assert!(
        !first.iter().any(|c| match c {
            Change::SetMember(_, m) => m.name == "thief",
            Change::Attach(_, m, _) => m == "thief",
            _ => false,
        }),
        "{first:#?}"
    );
    let st = w.status();
    assert_eq!(
        st.refused,
        vec![
            "3/thief: market returned a different lease (akash1alice/5/1/1/akash1local/0)"
                .to_string()
        ]
    );
    assert_eq!(st.networks[&3].members.len(), 1);
    // the market was asked for exactly the member's lease id
    assert!(
        w.chain()
            .lease_queries()
            .contains(&market_lease(MALLORY, 5, LOCAL, 0))
    );

    // a market keyed by the full id answers "not found": still refused
    w.edit(|c| c.market_ignores_owner = false);
    let changes = w.step(|_| Trigger::Resync(ResyncReason::Periodic)).await;
    assert_eq!(changes, vec![]);
    assert_eq!(
        w.status().refused,
        vec!["3/thief: no such lease".to_string()]
    );

    // control: without verification the misled attachment would be used
    let mut c = chain();
    c.networks = w.chain().networks.clone();
    drop(w);
    let off = World::start(c, &files, false, Consent::default()).await;
    let first = off.first.clone();
    assert!(attaches(&first).contains(&(3, "thief".into(), ns("alice-5"))));
}

/// (c) Eve's network authorizes this provider and binds a member to a
/// lease id on it that it does not run. Neither that, nor events naming
/// this provider, nor full reads make the relayer read the network: only
/// discovery queries run, no `network`/`manifest` read of it, no lease
/// check of eve's lease, nothing in the data plane.
#[tokio::test]
async fn a_network_that_only_names_this_provider_is_never_read() {
    let mut c = two_tenants();
    let mut n4 = FakeNetwork::new(4, EVE);
    n4.member("ghost", "100.64.0.2", reg_lease(EVE, 9, LOCAL, 0))
        .member("x", "100.64.0.3", reg_lease(EVE, 10, PEER, 0));
    n4.authorized.insert(LOCAL.into());
    c.networks.insert(4, n4);
    active(&mut c, &[(EVE, 9)]);
    // consent for another tenant only
    let consent = Consent {
        tenants: [BOB.to_string()].into(),
        ..Consent::default()
    };
    let mut w = World::start(c, &[("alice.toml", ALICE, 7, "alice-7")], true, consent).await;
    let mut seen = w.first.clone();
    seen.extend(w.event(&[4], &[LOCAL, PEER]).await);
    w.edit(|c| {
        c.networks
            .get_mut(&4)
            .unwrap()
            .set_policy("ghost", allow_tcp(22))
    });
    seen.extend(w.event(&[4], &[LOCAL]).await);
    seen.extend(w.step(|_| Trigger::Resync(ResyncReason::Periodic)).await);
    seen.extend(w.step(|_| Trigger::Resync(ResyncReason::Reconnect)).await);

    let chain = w.chain();
    assert_eq!(chain.reads_of(4), Vec::<serde_json::Value>::new());
    assert!(!chain.reads_of(1).is_empty(), "reads are counted");
    assert!(chain.lease_queries().iter().all(|l| l.owner != EVE));
    // bob's consented networks were read (he has one), eve's never
    assert!(!chain.reads_of(2).is_empty());
    drop(chain);
    assert!(about(&seen, 4).is_empty(), "{seen:#?}");
    let st = w.status();
    assert!(!st.networks.contains_key(&4));
    assert!(!w.applied.borrow().revisions.contains_key(&4));
}

/// (d) Network 1's manifest read answers garbage: network 2's policy
/// change is applied anyway, network 1 keeps its state and is listed as
/// failing, and it catches up once it reads again.
#[tokio::test]
async fn a_network_whose_read_fails_does_not_hold_up_the_others() {
    let mut w = World::start(
        two_tenants(),
        &[
            ("alice.toml", ALICE, 7, "alice-7"),
            ("bob.toml", BOB, 7, "bob-7"),
        ],
        true,
        Consent::default(),
    )
    .await;
    w.edit(|c| {
        c.broken_manifest.insert(1);
        c.networks
            .get_mut(&1)
            .unwrap()
            .set_policy("a", allow_tcp(80));
        c.networks
            .get_mut(&2)
            .unwrap()
            .set_policy("b", allow_tcp(443));
    });
    let changes = w.event(&[1, 2], &[LOCAL]).await;
    w.until(|a| a.revisions.get(&2) == Some(&2)).await;
    let for_2 = about(&changes, 2);
    assert!(
        for_2.iter().any(|c| matches!(c, Change::SetMember(2, m)
            if m.name == "b" && m.policy.ingress.len() == 1)),
        "{changes:#?}"
    );
    assert!(about(&changes, 1).is_empty(), "{changes:#?}");
    assert_eq!(w.revision(1), Some(1));
    let st = w.status();
    assert_eq!(
        st.failing_networks.keys().copied().collect::<Vec<_>>(),
        vec![1]
    );
    assert!(
        st.failing_networks[&1].contains("manifest")
            || st.failing_networks[&1].contains("undecodable"),
        "{:?}",
        st.failing_networks
    );
    assert_eq!(st.networks[&1].revision, 1);
    assert_eq!(st.networks[&2].revision, 2);
    // retried on its own; applied once the chain answers
    w.dp.lock().await.0.clear();
    w.edit(|c| c.broken_manifest.clear());
    w.until(|a| a.revisions.get(&1) == Some(&2)).await;
    let later = w.dp.lock().await.0.clone();
    assert!(
        later.iter().any(|c| matches!(c, Change::SetMember(1, m)
            if m.name == "a" && m.policy.ingress.len() == 1)),
        "{later:#?}"
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !w.status().failing_networks.is_empty() {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        assert!(!left.is_zero(), "{:?}", w.status().failing_networks);
        let _ = tokio::time::timeout(left, w.applied.changed()).await;
    }
}

/// (e) Network 1 gains a member whose lease check fails (the market errs):
/// network 1 keeps its previous state while network 2 updates; once the
/// market answers, network 1 is applied with the new member attached.
#[tokio::test]
async fn a_network_whose_lease_check_fails_keeps_its_state() {
    let mut w = World::start(
        two_tenants(),
        &[
            ("alice.toml", ALICE, 7, "alice-7"),
            ("bob.toml", BOB, 7, "bob-7"),
        ],
        true,
        Consent::default(),
    )
    .await;
    write_attachment(&w.att.0, "alice-8.toml", ALICE, 8, 0, &ns("alice-8"));
    w.edit(|c| {
        c.broken_leases.insert(8);
        active(c, &[(ALICE, 8)]);
        let n1 = c.networks.get_mut(&1).unwrap();
        n1.member("a2", "100.64.0.4", reg_lease(ALICE, 8, LOCAL, 0));
        n1.record.revision += 1;
        c.networks
            .get_mut(&2)
            .unwrap()
            .set_policy("b", allow_tcp(443));
    });
    let changes = w.event(&[1, 2], &[LOCAL]).await;
    w.until(|a| a.revisions.get(&2) == Some(&2)).await;
    assert!(
        about(&changes, 2)
            .iter()
            .any(|c| matches!(c, Change::SetMember(2, m) if m.name == "b")),
        "{changes:#?}"
    );
    assert!(about(&changes, 1).is_empty(), "{changes:#?}");
    assert_eq!(w.revision(1), Some(1));
    let st = w.status();
    assert!(
        st.failing_networks
            .get(&1)
            .is_some_and(|e| e.contains("lease")),
        "{:?}",
        st.failing_networks
    );
    assert!(!st.failing_networks.contains_key(&2));
    assert_eq!(st.networks[&1].members.len(), 2, "previous members kept");
    assert!(
        w.chain()
            .lease_queries()
            .contains(&market_lease(ALICE, 8, LOCAL, 0))
    );

    // the market answers again: the retry applies network 1
    w.dp.lock().await.0.clear();
    w.edit(|c| c.broken_leases.clear());
    w.until(|a| a.revisions.get(&1) == Some(&2)).await;
    let later = w.dp.lock().await.0.clone();
    assert!(
        attaches(&later).contains(&(1, "a2".into(), ns("alice-8"))),
        "{later:#?}"
    );
    assert!(
        !later
            .iter()
            .any(|c| matches!(c, Change::Detach(..) | Change::RemoveNetwork(_))),
        "{later:#?}"
    );
}

const RELAY: &str = "akash1relay";
const PEER2: &str = "akash1peer2";

/// A directory record of `addr` announcing the relay capability.
fn relay_record(addr: &str, key: u8) -> provider_directory::msg::ProviderRecord {
    provider_directory::msg::ProviderRecord {
        relay: true,
        ..record(addr, key)
    }
}

/// Whether a change makes `provider` a peer or a relay.
fn uses(c: &Change, provider: &str) -> bool {
    match c {
        Change::SetPeer(p) => p.provider == provider,
        Change::SetRelays(_, relays) => relays.contains(provider),
        _ => false,
    }
}

/// Directory queries received for `provider`.
fn directory_reads(chain: &Chain, provider: &str) -> usize {
    chain
        .log
        .iter()
        .filter(|l| {
            matches!(l, Logged::Smart { contract, query }
                if contract == DIRECTORY && query["provider"]["address"] == provider)
        })
        .count()
}

/// (f) Mallory registers her relayer with `relay: true`, hoping alice's
/// network is relayed through it: alice never authorized her, so she is
/// neither a relay nor a peer (her record is not even read), whatever
/// events name her. The provider alice authorizes does relay and is a
/// peer; once alice revokes it, it is neither.
#[tokio::test]
async fn a_relay_the_owner_did_not_authorize_is_never_a_relay_nor_a_peer() {
    let mut c = two_tenants();
    c.providers.insert(MALLORY.into(), relay_record(MALLORY, 6));
    c.providers.insert(RELAY.into(), relay_record(RELAY, 5));
    let files = [("alice.toml", ALICE, 7, "alice-7")];
    let mut w = World::start(c, &files, true, Consent::default()).await;
    let mut seen = w.first.clone();
    seen.extend(
        w.step(|height| Trigger::Providers {
            height,
            addrs: [MALLORY.to_string()].into(),
        })
        .await,
    );
    seen.extend(w.event(&[1], &[MALLORY]).await);
    seen.extend(w.step(|_| Trigger::Resync(ResyncReason::Periodic)).await);
    assert!(!seen.iter().any(|c| uses(c, MALLORY)), "{seen:#?}");
    assert!(
        !seen.iter().any(|c| matches!(c, Change::SetRelays(..))),
        "{seen:#?}"
    );
    assert_eq!(directory_reads(&w.chain(), MALLORY), 0);
    assert_eq!(directory_reads(&w.chain(), RELAY), 0);

    // alice authorizes RELAY: its peer first, then the network's relays
    w.edit(|c| {
        let n1 = c.networks.get_mut(&1).unwrap();
        n1.authorized.insert(RELAY.into());
        n1.record.revision += 1;
    });
    let changes = w.event(&[1], &[RELAY]).await;
    let peer_at = changes
        .iter()
        .position(|c| matches!(c, Change::SetPeer(p) if p.provider == RELAY));
    let relays_at = changes
        .iter()
        .position(|c| *c == Change::SetRelays(1, [RELAY.to_string()].into()));
    assert!(
        peer_at.is_some() && relays_at.is_some() && peer_at < relays_at,
        "{changes:#?}"
    );
    assert!(!changes.iter().any(|c| uses(c, MALLORY)), "{changes:#?}");

    // alice revokes it: no relays, and its peer goes (its only role)
    w.edit(|c| {
        let n1 = c.networks.get_mut(&1).unwrap();
        n1.authorized.remove(RELAY);
        n1.record.revision += 1;
    });
    let changes = w.event(&[1], &[RELAY]).await;
    assert!(
        changes.contains(&Change::SetRelays(1, BTreeSet::new())),
        "{changes:#?}"
    );
    assert_eq!(changes.last(), Some(&Change::RemovePeer(RELAY.into())));
    assert_eq!(w.status().peers.len(), 1, "only PEER, which hosts r");
}

/// (g) This provider is relay-capable and eve authorized it in her network,
/// which binds no lease it runs: without consent it never reads the
/// network; with consent it relays for it and peers with the providers
/// hosting its members, never with itself.
#[tokio::test]
async fn a_relay_serves_an_authorizing_network_only_with_consent() {
    let chain = || {
        let mut c = chain();
        c.providers.insert(LOCAL.into(), relay_record(LOCAL, 1));
        c.providers.insert(PEER2.into(), record(PEER2, 3));
        let mut n5 = FakeNetwork::new(5, EVE);
        n5.member("x", "100.64.0.2", reg_lease(EVE, 1, PEER, 0))
            .member("y", "100.64.0.3", reg_lease(EVE, 2, PEER2, 0));
        n5.authorized.insert(LOCAL.into());
        c.networks.insert(5, n5);
        c
    };
    let w = World::start(chain(), &[], true, Consent::default()).await;
    assert!(w.first.is_empty(), "{:#?}", w.first);
    assert!(w.chain().reads_of(5).is_empty());
    drop(w);

    let consent = Consent {
        tenants: [EVE.to_string()].into(),
        ..Consent::default()
    };
    let w = World::start(chain(), &[], true, consent).await;
    let first = w.first.clone();
    assert!(
        first.contains(&Change::SetRelays(5, [LOCAL.to_string()].into())),
        "{first:#?}"
    );
    let peers: BTreeSet<&str> = first
        .iter()
        .filter_map(|c| match c {
            Change::SetPeer(p) => Some(p.provider.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(peers, [PEER, PEER2].into());
    assert_eq!(w.revision(5), Some(1));
}
