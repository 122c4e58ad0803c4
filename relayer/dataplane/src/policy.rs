//! The firewall: members' policies compiled into per-pair lookup tables,
//! plus a stateful flow cache.
//!
//! Semantics (DESIGN.md "Policy"): a flow A→B on (protocol, port) is
//! allowed iff A's egress allows it AND B's ingress allows it. Within one
//! list a matching deny beats any matching allow; no match gives the
//! network's default verdict. Replies of an allowed flow pass (stateful).
//!
//! Matching details:
//! - the port range is the destination port of the flow and applies to TCP
//!   and UDP; an `Icmp` rule ignores ports; a protocol-`Any` rule matches a
//!   packet without ports (ICMP, other protocols) only when its range is
//!   every port (so "any protocol, port 80" does not open ICMP);
//! - peers are resolved against the network's members when compiling: a
//!   flow's ends are always members (the data path drops anything else
//!   before the firewall), so `Cidrs` selects the members with an address
//!   (IPv4 or IPv6) inside one of the CIDRs, for flows over either family;
//! - a member is found by either of its addresses; `Icmp` rules cover ICMP
//!   in IPv4 packets and ICMPv6 in IPv6 packets;
//! - member-name and CIDR selectors select only members of the network owner
//!   or of the rule's own adder ([`avpn_model::PeerSelector::selects`]), so a
//!   participant cannot capture another party's rule.
//!
//! Compilation: for every (list holder, peer) pair with a local end the rules matching that
//! peer are folded into a [`PeerTable`] (identical rule subsets share one
//! table): per protocol, sorted elementary port intervals each carrying the
//! list's verdict. A decision is two hash lookups of the members plus two
//! binary searches over at most `2 * rules + 1` boundaries, and a flow-cache
//! hit is a single hash lookup: per-packet cost does not grow with the rule
//! count in the steady state.

use std::collections::HashMap;
use std::sync::Arc;

use avpn_model::{Flow, MemberInfo, Protocol, Rule, Verdict};
use prometheus_client::metrics::counter::Counter;
use rustc_hash::FxHashMap;

use crate::addr_map::AddrMap;
use crate::limits::FLOW_BUDGET_PER_NETWORK;
use crate::packet::{Addrs, PacketInfo, proto};

mod generation;

use generation::Generation;

/// Sorted elementary port intervals and the verdict of each (`None` = no
/// rule matched).
#[derive(Debug, Clone, PartialEq, Eq)]
struct PortMap {
    starts: Vec<u16>,
    verdicts: Vec<Option<Verdict>>,
}

impl PortMap {
    fn build<'a>(rules: impl Iterator<Item = &'a Rule>) -> Self {
        // (point, allow delta, deny delta); an interval [s, e] opens at s
        // and closes at e + 1.
        let mut events: Vec<(u32, i32, i32)> = Vec::new();
        for r in rules {
            let (a, d) = match r.verdict {
                Verdict::Allow => (1, 0),
                Verdict::Deny => (0, 1),
            };
            events.push((u32::from(r.ports.start()), a, d));
            events.push((u32::from(r.ports.end()) + 1, -a, -d));
        }
        events.sort_unstable_by_key(|e| e.0);
        let mut starts = vec![0u16];
        let mut verdicts = vec![None];
        let (mut allow, mut deny) = (0i32, 0i32);
        let mut i = 0;
        while i < events.len() {
            let point = events[i].0;
            while i < events.len() && events[i].0 == point {
                allow += events[i].1;
                deny += events[i].2;
                i += 1;
            }
            if point > u32::from(u16::MAX) {
                break;
            }
            let v = if deny > 0 {
                Some(Verdict::Deny)
            } else if allow > 0 {
                Some(Verdict::Allow)
            } else {
                None
            };
            if point == 0 {
                verdicts[0] = v;
            } else if verdicts.last() != Some(&v) {
                starts.push(point as u16);
                verdicts.push(v);
            }
        }
        PortMap { starts, verdicts }
    }

    fn lookup(&self, port: u16) -> Option<Verdict> {
        let i = self.starts.partition_point(|&s| s <= port) - 1;
        self.verdicts[i]
    }
}

/// One list's verdicts for one peer, per protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerTable {
    tcp: PortMap,
    udp: PortMap,
    icmp: Option<Verdict>,
    other: Option<Verdict>,
}

fn fold(rules: &[&Rule], matches: impl Fn(&Rule) -> bool) -> Option<Verdict> {
    let mut out = None;
    for r in rules.iter().filter(|r| matches(r)) {
        if r.verdict == Verdict::Deny {
            return Some(Verdict::Deny);
        }
        out = Some(Verdict::Allow);
    }
    out
}

impl PeerTable {
    fn build(rules: &[&Rule]) -> Self {
        let ported = |p: Protocol| {
            rules
                .iter()
                .copied()
                .filter(move |r| r.protocol == p || r.protocol == Protocol::Any)
        };
        PeerTable {
            tcp: PortMap::build(ported(Protocol::Tcp)),
            udp: PortMap::build(ported(Protocol::Udp)),
            icmp: fold(rules, |r| r.covers(Flow::Icmp)),
            other: fold(rules, |r| r.covers(Flow::Other(0))),
        }
    }

    /// The verdict for protocol `proto_nr` and `dport` in a packet whose
    /// family's ICMP protocol number is `icmp`.
    fn lookup(&self, icmp: u8, proto_nr: u8, dport: u16) -> Option<Verdict> {
        match proto_nr {
            proto::TCP => self.tcp.lookup(dport),
            proto::UDP => self.udp.lookup(dport),
            p if p == icmp => self.icmp,
            _ => self.other,
        }
    }
}

/// Compiles one rule list of a member added by `adder` against `peers`:
/// `out[peer]`.
fn compile_list(
    rules: &[Rule],
    adder: &str,
    owner: &str,
    peers: &[&MemberInfo],
) -> Vec<Arc<PeerTable>> {
    let mut shared: HashMap<Vec<u32>, Arc<PeerTable>> = HashMap::new();
    peers
        .iter()
        .map(|peer| {
            let subset: Vec<u32> = rules
                .iter()
                .enumerate()
                .filter(|(_, r)| r.peers.selects(peer.as_peer(), adder, owner))
                .map(|(i, _)| i as u32)
                .collect();
            shared
                .entry(subset)
                .or_insert_with_key(|subset| {
                    let rs: Vec<&Rule> = subset.iter().map(|&i| &rules[i as usize]).collect();
                    Arc::new(PeerTable::build(&rs))
                })
                .clone()
        })
        .collect()
}

/// A network's policies compiled for the flows this provider decides:
/// those with at least one local end (it enforces what its members send and
/// re-checks what they receive). Tables take `4 × local × members` entries,
/// so a large network costs memory in proportion to its size, not its square.
#[derive(Debug, Clone)]
pub struct CompiledPolicy {
    default: Verdict,
    /// Member index by address (IPv4 and IPv6).
    index: AddrMap<u32>,
    /// Local slot by member index.
    local: FxHashMap<u32, u32>,
    /// `local_egress[local src][dst]`
    local_egress: Vec<Vec<Arc<PeerTable>>>,
    /// `local_ingress[local dst][src]`
    local_ingress: Vec<Vec<Arc<PeerTable>>>,
    /// `egress_to_local[src][local dst]`
    egress_to_local: Vec<Vec<Arc<PeerTable>>>,
    /// `ingress_from_local[dst][local src]`
    ingress_from_local: Vec<Vec<Arc<PeerTable>>>,
}

impl CompiledPolicy {
    /// Compiles the policies of `members` of a network owned by `owner`
    /// with its default, for the members `is_local` selects.
    pub fn compile<'a>(
        owner: &str,
        default: Verdict,
        members: impl IntoIterator<Item = &'a MemberInfo>,
        is_local: impl Fn(&MemberInfo) -> bool,
    ) -> Self {
        let members: Vec<&MemberInfo> = members.into_iter().collect();
        let index = members
            .iter()
            .enumerate()
            .flat_map(|(i, m)| m.addrs().map(move |ip| (ip, i as u32)))
            .collect();
        let local_members: Vec<&MemberInfo> =
            members.iter().copied().filter(|m| is_local(m)).collect();
        let local = members
            .iter()
            .enumerate()
            .filter(|(_, m)| is_local(m))
            .enumerate()
            .map(|(slot, (i, _))| (i as u32, slot as u32))
            .collect();
        let list = |m: &MemberInfo, rules: &[Rule], peers: &[&MemberInfo]| {
            compile_list(rules, &m.lease.owner, owner, peers)
        };
        CompiledPolicy {
            default,
            index,
            local,
            local_egress: local_members
                .iter()
                .map(|m| list(m, &m.policy.egress, &members))
                .collect(),
            local_ingress: local_members
                .iter()
                .map(|m| list(m, &m.policy.ingress, &members))
                .collect(),
            egress_to_local: members
                .iter()
                .map(|m| list(m, &m.policy.egress, &local_members))
                .collect(),
            ingress_from_local: members
                .iter()
                .map(|m| list(m, &m.policy.ingress, &local_members))
                .collect(),
        }
    }

    /// Decides a new flow between `addrs` (members' overlay addresses) on
    /// protocol `proto_nr` and destination port `dport`. Unknown
    /// addresses, and flows with no local end, are denied.
    pub fn decide(&self, addrs: Addrs, proto_nr: u8, dport: u16) -> Verdict {
        let (Some(&s), Some(&d)) = (self.index.get(addrs.src()), self.index.get(addrs.dst()))
        else {
            return Verdict::Deny;
        };
        let (ls, ld) = (self.local.get(&s), self.local.get(&d));
        let (egress, ingress) = match (ls, ld) {
            (Some(&ls), Some(&ld)) => (
                &self.local_egress[ls as usize][d as usize],
                &self.local_ingress[ld as usize][s as usize],
            ),
            (Some(&ls), None) => (
                &self.local_egress[ls as usize][d as usize],
                &self.ingress_from_local[d as usize][ls as usize],
            ),
            (None, Some(&ld)) => (
                &self.egress_to_local[s as usize][ld as usize],
                &self.local_ingress[ld as usize][s as usize],
            ),
            (None, None) => return Verdict::Deny,
        };
        let icmp = addrs.icmp_proto();
        if egress.lookup(icmp, proto_nr, dport).unwrap_or(self.default) == Verdict::Deny {
            return Verdict::Deny;
        }
        ingress
            .lookup(icmp, proto_nr, dport)
            .unwrap_or(self.default)
    }
}

/// Identity of a flow (one direction).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowKey {
    /// Source and destination.
    pub addrs: Addrs,
    /// IP protocol.
    pub proto: u8,
    /// Source port (ICMP echo: the identifier).
    pub sport: u16,
    /// Destination port (ICMP echo: the identifier).
    pub dport: u16,
    /// An ICMP echo reply. Echo requests and replies share the identifier
    /// as "ports"; this flag keeps them apart so that a reply matches only
    /// the reverse of a remembered request, and a request never rides on
    /// the state of a flow in the other direction (no reverse ping).
    pub icmp_reply: bool,
}

impl FlowKey {
    /// The key of the packets answering this one.
    fn reverse(&self) -> FlowKey {
        FlowKey {
            addrs: self.addrs.reversed(),
            proto: self.proto,
            sport: self.dport,
            dport: self.sport,
            // The reverse of a reply is its request; ICMP requests (and
            // other ICMP) are never replies of anything.
            icmp_reply: false,
        }
    }

    /// Whether this packet may pass as the reply of a remembered flow in
    /// the other direction: TCP, UDP and other protocols may; of ICMP
    /// (ICMPv6 in IPv6) only echo replies.
    fn may_be_reply(&self) -> bool {
        self.proto != self.addrs.icmp_proto() || self.icmp_reply
    }
}

impl From<&PacketInfo> for FlowKey {
    fn from(p: &PacketInfo) -> Self {
        FlowKey {
            addrs: p.addrs,
            proto: p.proto,
            sport: p.sport,
            dport: p.dport,
            icmp_reply: p.icmp_reply,
        }
    }
}

/// Verdicts of flows already decided, keyed by 5-tuple. A packet passes if
/// its flow was allowed or if it is a reply of an allowed flow (for ICMP,
/// an echo reply of an allowed echo request).
///
/// Bounded: at most `budget` entries in two generations of `budget / 2`.
/// New flows enter the young generation; a hit in the old one moves the
/// flow back to the young one; when the young generation is full, the old
/// one (flows not seen for a whole generation, i.e. the least recently
/// used half) is evicted and the young one becomes old. This approximates
/// LRU at the cost of one hash lookup per hit (an intrusive LRU list, as in
/// the `lru` crate, would add a list update to every packet). Each network
/// has its own cache, so a flood in one network never evicts another's
/// flows.
#[derive(Debug)]
pub struct FlowCache {
    young: Generation,
    old: Generation,
    budget: usize,
    evicted: Counter,
}

impl Default for FlowCache {
    /// A cache with the per-network budget and a detached eviction counter.
    fn default() -> Self {
        FlowCache::new(FLOW_BUDGET_PER_NETWORK, Counter::default())
    }
}

impl FlowCache {
    /// A cache holding at most `budget` flows (at least 2), counting
    /// evicted entries in `evicted`.
    pub fn new(budget: usize, evicted: Counter) -> Self {
        FlowCache {
            young: Generation::default(),
            old: Generation::default(),
            budget: budget.max(2),
            evicted,
        }
    }

    fn get(&mut self, key: &FlowKey) -> Option<Verdict> {
        if let Some(v) = self.young.get(key) {
            return Some(v);
        }
        if self.old.is_empty() {
            return None;
        }
        let v = self.old.remove(key)?;
        self.insert(*key, v);
        Some(v)
    }

    fn insert(&mut self, key: FlowKey, v: Verdict) {
        if self.young.len() >= self.budget / 2 {
            self.evicted.inc_by(self.old.len() as u64);
            // clear() keeps the allocation: no reallocation in the steady
            // state of a flood.
            self.old.clear();
            std::mem::swap(&mut self.young, &mut self.old);
        }
        self.young.insert(&key, v);
    }

    /// Decides one packet, remembering the verdict of a new flow.
    pub fn check(&mut self, policy: &CompiledPolicy, key: FlowKey) -> Verdict {
        let cached = self.get(&key);
        if cached == Some(Verdict::Allow) {
            return Verdict::Allow;
        }
        if key.may_be_reply() && self.get(&key.reverse()) == Some(Verdict::Allow) {
            return Verdict::Allow;
        }
        if let Some(v) = cached {
            return v;
        }
        let v = policy.decide(key.addrs, key.proto, key.dport);
        self.insert(key, v);
        v
    }

    /// Re-decides every remembered flow under a new policy (a flow that is
    /// no longer allowed is cut at its next packet, replies included).
    pub fn revalidate(&mut self, policy: &CompiledPolicy) {
        for g in [&mut self.young, &mut self.old] {
            g.redecide(|k| policy.decide(k.addrs, k.proto, k.dport));
        }
    }

    /// Whether `key` is remembered (without refreshing it).
    pub fn contains(&self, key: &FlowKey) -> bool {
        self.young.get(key).is_some() || self.old.get(key).is_some()
    }

    /// Number of remembered flows.
    pub fn len(&self) -> usize {
        self.young.len() + self.old.len()
    }

    /// Whether no flow is remembered.
    pub fn is_empty(&self) -> bool {
        self.young.is_empty() && self.old.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use avpn_model::{LeaseId, PeerSelector, Policy, PortRange};
    use std::net::{Ipv4Addr, Ipv6Addr};

    use ipnet::{IpNet, Ipv4Net, Ipv6Net};
    use proptest::prelude::*;

    use super::*;

    /// The semantics written as plainly as possible: the model's
    /// [`avpn_model::explain`], which `avpn explain` shows to tenants.
    fn reference(
        default: Verdict,
        members: &[MemberInfo],
        src: usize,
        dst: usize,
        v6: bool,
        proto_nr: u8,
        dport: u16,
    ) -> Verdict {
        let flow = if v6 {
            Flow::from_ipv6(proto_nr, dport)
        } else {
            Flow::from_ip(proto_nr, dport)
        };
        avpn_model::explain(OWNER, default, &members[src], &members[dst], flow).verdict
    }

    /// The network owner in these tests.
    const OWNER: &str = "owner";

    fn member(i: u8, tags: &[&str], policy: Policy) -> MemberInfo {
        member_by(OWNER, i, tags, policy)
    }

    fn member_by(adder: &str, i: u8, tags: &[&str], policy: Policy) -> MemberInfo {
        MemberInfo {
            name: format!("m{i}"),
            ip: ip(i),
            ip6: Some(ip6(i)),
            lease: LeaseId {
                owner: adder.into(),
                dseq: u64::from(i),
                gseq: 1,
                oseq: 1,
                provider: "p".into(),
                bseq: 0,
            },
            tags: tags.iter().map(|t| t.to_string()).collect(),
            service: None,
            policy,
            weight: None,
        }
    }

    fn rule(peers: PeerSelector, protocol: Protocol, ports: (u16, u16), verdict: Verdict) -> Rule {
        Rule {
            peers,
            protocol,
            ports: PortRange::new(ports.0, ports.1).unwrap(),
            verdict,
        }
    }

    fn ip(i: u8) -> Ipv4Addr {
        Ipv4Addr::new(100, 64, 0, 10 + i)
    }

    fn ip6(i: u8) -> Ipv6Addr {
        Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 10 + u16::from(i))
    }

    /// IPv4 flow between members `s` and `d`.
    fn pair(s: u8, d: u8) -> Addrs {
        Addrs::V4 {
            src: ip(s),
            dst: ip(d),
        }
    }

    /// IPv6 flow between members `s` and `d`.
    fn pair6(s: u8, d: u8) -> Addrs {
        Addrs::V6 {
            src: ip6(s),
            dst: ip6(d),
        }
    }

    fn names(n: &[&str]) -> BTreeSet<String> {
        n.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn table_of_semantics() {
        use Protocol::*;
        use Verdict::*;
        let web = member(
            1,
            &["web"],
            Policy {
                ingress: vec![
                    rule(PeerSelector::Tags(names(&["app"])), Tcp, (80, 443), Allow),
                    rule(PeerSelector::Members(names(&["m3"])), Tcp, (443, 443), Deny),
                    rule(PeerSelector::Any, Icmp, (0, 0), Allow),
                ],
                egress: vec![rule(PeerSelector::Any, Any, (0, 65535), Allow)],
            },
        );
        let app = member(
            2,
            &["app"],
            Policy {
                ingress: vec![],
                egress: vec![
                    rule(PeerSelector::Any, Any, (0, 65535), Allow),
                    rule(
                        PeerSelector::Cidrs(vec!["100.64.0.11/32".parse::<IpNet>().unwrap()]),
                        Udp,
                        (0, 65535),
                        Deny,
                    ),
                ],
            },
        );
        let app2 = member(
            3,
            &["app"],
            Policy {
                ingress: vec![],
                egress: vec![rule(PeerSelector::Any, Tcp, (0, 65535), Allow)],
            },
        );
        let members = [web, app, app2];
        let p = CompiledPolicy::compile(OWNER, Deny, &members, |_| true);
        let cases = [
            // (src, dst, proto, port, expected, why)
            (2, 1, proto::TCP, 80, Allow, "egress any + ingress tag app"),
            (2, 1, proto::TCP, 443, Allow, "m2 is not the denied member"),
            (
                3,
                1,
                proto::TCP,
                443,
                Deny,
                "deny beats allow in web's ingress",
            ),
            (3, 1, proto::TCP, 80, Allow, "other port of the range"),
            (
                2,
                1,
                proto::TCP,
                8080,
                Deny,
                "outside the range: default deny",
            ),
            (
                2,
                1,
                proto::UDP,
                80,
                Deny,
                "app's egress denies udp to web's cidr",
            ),
            (2, 1, proto::ICMP, 0, Allow, "icmp rule ignores ports"),
            (3, 1, proto::ICMP, 0, Deny, "app2's egress is tcp only"),
            (
                1,
                2,
                proto::TCP,
                80,
                Deny,
                "app's ingress is empty: default deny",
            ),
            (
                2,
                1,
                47,
                0,
                Deny,
                "gre: web's ingress has no any-protocol rule",
            ),
        ];
        for (s, d, pr, port, want, why) in cases {
            assert_eq!(p.decide(pair(s, d), pr, port), want, "{why}");
            assert_eq!(
                reference(
                    Deny,
                    &members,
                    s as usize - 1,
                    d as usize - 1,
                    false,
                    pr,
                    port
                ),
                want,
                "reference: {why}"
            );
            // The same flow over IPv6 (ICMPv6 for ICMP) is decided alike.
            let pr6 = if pr == proto::ICMP { proto::ICMPV6 } else { pr };
            assert_eq!(p.decide(pair6(s, d), pr6, port), want, "ipv6: {why}");
        }
        // Default allow: an empty ingress lets everything in.
        let p = CompiledPolicy::compile(OWNER, Allow, &members, |_| true);
        assert_eq!(p.decide(pair(1, 2), proto::TCP, 9), Allow);
        // Unknown addresses are denied whatever the default.
        let stranger = Addrs::V4 {
            src: Ipv4Addr::new(1, 1, 1, 1),
            dst: ip(2),
        };
        assert_eq!(p.decide(stranger, proto::TCP, 9), Deny);
        // ICMP's number in an IPv6 packet is not ICMPv6 (and vice versa).
        let p = CompiledPolicy::compile(OWNER, Deny, &members, |_| true);
        assert_eq!(p.decide(pair(2, 1), proto::ICMP, 0), Allow);
        assert_eq!(p.decide(pair6(2, 1), proto::ICMPV6, 0), Allow);
        assert_eq!(p.decide(pair6(2, 1), proto::ICMP, 0), Deny);
        assert_eq!(p.decide(pair(2, 1), proto::ICMPV6, 0), Deny);
    }

    #[test]
    fn any_protocol_with_ports_does_not_open_icmp() {
        let a = member(
            1,
            &[],
            Policy {
                ingress: vec![],
                egress: vec![rule(
                    PeerSelector::Any,
                    Protocol::Any,
                    (80, 80),
                    Verdict::Allow,
                )],
            },
        );
        let b = member(
            2,
            &[],
            Policy {
                ingress: vec![rule(
                    PeerSelector::Any,
                    Protocol::Any,
                    (0, 65535),
                    Verdict::Allow,
                )],
                egress: vec![],
            },
        );
        let p = CompiledPolicy::compile(OWNER, Verdict::Deny, &[a, b], |_| true);
        assert_eq!(p.decide(pair(1, 2), proto::UDP, 80), Verdict::Allow);
        assert_eq!(p.decide(pair(1, 2), proto::ICMP, 0), Verdict::Deny);
    }

    #[test]
    fn flow_cache_is_stateful_and_revalidates() {
        let open = Policy {
            ingress: vec![rule(
                PeerSelector::Any,
                Protocol::Tcp,
                (80, 80),
                Verdict::Allow,
            )],
            egress: vec![rule(
                PeerSelector::Any,
                Protocol::Any,
                (0, 65535),
                Verdict::Allow,
            )],
        };
        let client = member(
            1,
            &[],
            Policy {
                ingress: vec![],
                egress: open.egress.clone(),
            },
        );
        let server = member(2, &[], open);
        let mut members = vec![client, server];
        let p = CompiledPolicy::compile(OWNER, Verdict::Deny, &members, |_| true);
        let mut cache = FlowCache::default();
        let fwd = FlowKey {
            addrs: pair(1, 2),
            proto: proto::TCP,
            sport: 40000,
            dport: 80,
            icmp_reply: false,
        };
        let reply = fwd.reverse();
        // A reply before its flow is a new flow into the client: denied.
        assert_eq!(cache.check(&p, reply), Verdict::Deny);
        assert_eq!(cache.check(&p, fwd), Verdict::Allow);
        assert_eq!(
            cache.check(&p, reply),
            Verdict::Allow,
            "reply of an allowed flow"
        );
        // The server closes port 80: the live flow and its replies are cut.
        members[1].policy.ingress.clear();
        let p2 = CompiledPolicy::compile(OWNER, Verdict::Deny, &members, |_| true);
        cache.revalidate(&p2);
        assert_eq!(cache.check(&p2, fwd), Verdict::Deny);
        assert_eq!(cache.check(&p2, reply), Verdict::Deny);
        assert_eq!(cache.len(), 2);
    }

    #[test]
    fn port_map_merges_and_bounds() {
        let rules = [
            rule(PeerSelector::Any, Protocol::Tcp, (0, 10), Verdict::Allow),
            rule(PeerSelector::Any, Protocol::Tcp, (5, 65535), Verdict::Deny),
            rule(
                PeerSelector::Any,
                Protocol::Tcp,
                (65535, 65535),
                Verdict::Allow,
            ),
        ];
        let m = PortMap::build(rules.iter());
        assert_eq!(m.lookup(0), Some(Verdict::Allow));
        assert_eq!(m.lookup(4), Some(Verdict::Allow));
        assert_eq!(m.lookup(5), Some(Verdict::Deny));
        assert_eq!(m.lookup(65535), Some(Verdict::Deny));
        assert_eq!(PortMap::build([].iter()).lookup(7), None);
    }

    fn selector() -> impl Strategy<Value = PeerSelector> {
        prop_oneof![
            Just(PeerSelector::Any),
            proptest::collection::btree_set(0u8..6, 1..3).prop_map(|s| PeerSelector::Members(
                s.into_iter().map(|i| format!("m{i}")).collect()
            )),
            proptest::collection::btree_set(prop_oneof![Just("a"), Just("b"), Just("c")], 1..3)
                .prop_map(|s| PeerSelector::Tags(s.into_iter().map(String::from).collect())),
            (10u8..16, 28u8..33).prop_map(|(h, l)| PeerSelector::Cidrs(vec![IpNet::V4(
                Ipv4Net::new(Ipv4Addr::new(100, 64, 0, h), l)
                    .unwrap()
                    .trunc()
            )])),
            (10u16..16, 124u8..129).prop_map(|(h, l)| PeerSelector::Cidrs(vec![IpNet::V6(
                Ipv6Net::new(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, h), l)
                    .unwrap()
                    .trunc()
            )])),
            proptest::collection::btree_set(prop_oneof![Just("s0"), Just("s1")], 1..3)
                .prop_map(|s| PeerSelector::Services(s.into_iter().map(String::from).collect())),
        ]
    }

    fn arb_rule() -> impl Strategy<Value = Rule> {
        let ports = prop_oneof![
            Just((0u16, 65535u16)),
            (0u16..100, 0u16..100).prop_map(|(a, b)| (a.min(b), a.max(b))),
            (any::<u16>(), any::<u16>()).prop_map(|(a, b)| (a.min(b), a.max(b))),
        ];
        let protocol = prop_oneof![
            Just(Protocol::Any),
            Just(Protocol::Tcp),
            Just(Protocol::Udp),
            Just(Protocol::Icmp)
        ];
        let verdict = prop_oneof![Just(Verdict::Allow), Just(Verdict::Deny)];
        (selector(), protocol, ports, verdict).prop_map(|(s, p, r, v)| rule(s, p, r, v))
    }

    fn arb_members() -> impl Strategy<Value = Vec<MemberInfo>> {
        proptest::collection::vec(
            (
                proptest::collection::btree_set(prop_oneof![Just("a"), Just("b"), Just("c")], 0..3),
                proptest::collection::vec(arb_rule(), 0..6),
                proptest::collection::vec(arb_rule(), 0..6),
                prop_oneof![Just(OWNER), Just("participant-1"), Just("participant-2")],
                prop_oneof![Just(None), Just(Some("s0")), Just(Some("s1"))],
            ),
            2..6,
        )
        .prop_map(|ms| {
            ms.into_iter()
                .enumerate()
                .map(|(i, (tags, ingress, egress, adder, service))| {
                    let tags: Vec<&str> = tags.into_iter().collect();
                    let mut m = member_by(adder, i as u8, &tags, Policy { ingress, egress });
                    m.service = service.map(String::from);
                    m
                })
                .collect()
        })
    }

    /// Attack: a participant names its member like the one the owner's rule
    /// admits, or takes an address inside the owner's CIDR rule; neither
    /// rule matches it, while the owner's own member still does.
    #[test]
    fn participant_cannot_capture_name_or_cidr_rules() {
        use Protocol::Tcp;
        use Verdict::{Allow, Deny};
        let db_rules = vec![
            rule(
                PeerSelector::Members(names(&["m2"])),
                Tcp,
                (5432, 5432),
                Allow,
            ),
            rule(
                PeerSelector::Cidrs(vec!["100.64.0.12/31".parse::<IpNet>().unwrap()]),
                Tcp,
                (6379, 6379),
                Allow,
            ),
        ];
        let db = member(
            1,
            &[],
            Policy {
                ingress: db_rules,
                egress: vec![rule(PeerSelector::Any, Tcp, (0, 65535), Allow)],
            },
        );
        let any_out = || Policy {
            ingress: vec![rule(PeerSelector::Any, Tcp, (0, 65535), Allow)],
            egress: vec![rule(PeerSelector::Any, Tcp, (0, 65535), Allow)],
        };
        // m2 taken by a participant; m3 (inside the /31) too.
        let squatter = member_by("participant-1", 2, &[], any_out());
        let squatter_cidr = member_by("participant-1", 3, &[], any_out());
        let p =
            CompiledPolicy::compile(OWNER, Deny, &[db.clone(), squatter, squatter_cidr], |_| {
                true
            });
        assert_eq!(
            p.decide(pair(2, 1), proto::TCP, 5432),
            Deny,
            "name captured"
        );
        assert_eq!(
            p.decide(pair(3, 1), proto::TCP, 6379),
            Deny,
            "cidr captured"
        );
        // The same names and addresses held by the owner's members match.
        let owned = member(2, &[], any_out());
        let owned_cidr = member(3, &[], any_out());
        let p = CompiledPolicy::compile(OWNER, Deny, &[db, owned, owned_cidr], |_| true);
        assert_eq!(p.decide(pair(2, 1), proto::TCP, 5432), Allow);
        assert_eq!(p.decide(pair(3, 1), proto::TCP, 6379), Allow);
    }

    /// Tables hold only pairs with a local end: a flow between two remote
    /// members is never decided here.
    #[test]
    fn only_flows_with_a_local_end_are_compiled() {
        let open = || Policy {
            ingress: vec![rule(
                PeerSelector::Any,
                Protocol::Any,
                (0, 65535),
                Verdict::Allow,
            )],
            egress: vec![rule(
                PeerSelector::Any,
                Protocol::Any,
                (0, 65535),
                Verdict::Allow,
            )],
        };
        let members: Vec<MemberInfo> = (1..=3).map(|i| member(i, &[], open())).collect();
        let p = CompiledPolicy::compile(OWNER, Verdict::Deny, &members, |m| m.ip == ip(1));
        assert_eq!(p.decide(pair(1, 2), proto::TCP, 80), Verdict::Allow);
        assert_eq!(p.decide(pair(3, 1), proto::TCP, 80), Verdict::Allow);
        assert_eq!(p.decide(pair(2, 3), proto::TCP, 80), Verdict::Deny);
        assert_eq!(p.local_egress.len(), 1);
        assert_eq!(p.egress_to_local[0].len(), 1);
    }

    proptest! {
        #[test]
        fn compiled_matches_reference(
            members in arb_members(),
            default_allow in any::<bool>(),
            local in proptest::collection::vec(0usize..6, 0..4),
            probes in proptest::collection::vec((0usize..6, 0usize..6, any::<bool>(), prop_oneof![Just(proto::TCP), Just(proto::UDP), Just(proto::ICMP), Just(proto::ICMPV6), Just(47u8)], prop_oneof![0u16..120, any::<u16>()]), 1..40),
        ) {
            let default = if default_allow { Verdict::Allow } else { Verdict::Deny };
            let local: BTreeSet<usize> = local.into_iter().map(|i| i % members.len()).collect();
            let is_local = |m: &MemberInfo| local.iter().any(|&i| members[i].ip == m.ip);
            let p = CompiledPolicy::compile(OWNER, default, &members, is_local);
            for (s, d, v6, pr, port) in probes {
                let (s, d) = (s % members.len(), d % members.len());
                // Flows without a local end are never this provider's to decide.
                let want = if local.contains(&s) || local.contains(&d) {
                    reference(default, &members, s, d, v6, pr, port)
                } else {
                    Verdict::Deny
                };
                let addrs = if v6 {
                    Addrs::new(members[s].ip6.unwrap().into(), members[d].ip6.unwrap().into())
                } else {
                    Addrs::new(members[s].ip.into(), members[d].ip.into())
                };
                prop_assert_eq!(
                    p.decide(addrs.unwrap(), pr, port),
                    want,
                    "src {} dst {} v6 {} proto {} port {} local {:?}", s, d, v6, pr, port, &local
                );
            }
        }
    }

    #[test]
    fn shared_tables_for_identical_subsets() {
        let rules = vec![rule(
            PeerSelector::Any,
            Protocol::Tcp,
            (1, 2),
            Verdict::Allow,
        )];
        let ms: Vec<MemberInfo> = (0..4).map(|i| member(i, &[], Policy::default())).collect();
        let refs: Vec<&MemberInfo> = ms.iter().collect();
        let t = compile_list(&rules, OWNER, OWNER, &refs);
        assert!(t.iter().all(|x| Arc::ptr_eq(x, &t[0])));
    }

    fn udp(src: u8, dst: u8, sport: u16, dport: u16) -> FlowKey {
        FlowKey {
            addrs: pair(src, dst),
            proto: proto::UDP,
            sport,
            dport,
            icmp_reply: false,
        }
    }

    fn echo(src: u8, dst: u8, id: u16, reply: bool) -> FlowKey {
        FlowKey {
            addrs: pair(src, dst),
            proto: proto::ICMP,
            sport: id,
            dport: id,
            icmp_reply: reply,
        }
    }

    /// m1 may send anything to m2; m2 may send nothing to m1.
    fn one_way() -> CompiledPolicy {
        let all = || {
            vec![rule(
                PeerSelector::Any,
                Protocol::Any,
                (0, 65535),
                Verdict::Allow,
            )]
        };
        let m1 = member(
            1,
            &[],
            Policy {
                ingress: vec![],
                egress: all(),
            },
        );
        let m2 = member(
            2,
            &[],
            Policy {
                ingress: all(),
                egress: vec![],
            },
        );
        CompiledPolicy::compile(OWNER, Verdict::Deny, &[m1, m2], |_| true)
    }

    #[test]
    fn flow_cache_evicts_the_least_recently_used_within_its_budget() {
        let p = one_way();
        let evicted = Counter::default();
        let mut cache = FlowCache::new(64, evicted.clone());
        // An established flow that keeps sending while m1 floods new flows.
        let live = udp(1, 2, 5000, 53);
        assert_eq!(cache.check(&p, live), Verdict::Allow);
        for port in 0..10_000u16 {
            assert_eq!(cache.check(&p, udp(1, 2, 6000, port)), Verdict::Allow);
            assert!(cache.len() <= 64, "budget exceeded: {}", cache.len());
            if port % 16 == 0 {
                // The live flow is seen more than once per generation
                // (32 new flows): it is never evicted.
                assert!(cache.contains(&live), "live flow evicted at {port}");
                assert_eq!(cache.check(&p, live.reverse()), Verdict::Allow);
            }
        }
        assert!(cache.contains(&live));
        assert!(
            evicted.get() >= 10_000 - 64,
            "evictions counted: {}",
            evicted.get()
        );
        // A flow idle for a whole generation is gone: its reply is then a
        // new flow into m1, which the policy denies (no stale state).
        let idle = udp(1, 2, 7000, 7);
        cache.check(&p, idle);
        for port in 0..64u16 {
            cache.check(&p, udp(1, 2, 8000, port));
        }
        assert!(!cache.contains(&idle));
        assert_eq!(cache.check(&p, idle.reverse()), Verdict::Deny);
    }

    #[test]
    fn flow_cache_flood_in_one_network_keeps_another_networks_flows() {
        // Each network has its own cache (NetTable::flows); an eviction
        // counter shared by both, as in the relayer.
        let p = one_way();
        let evicted = Counter::default();
        let mut net_a = FlowCache::new(FLOW_BUDGET_PER_NETWORK, evicted.clone());
        let mut net_b = FlowCache::new(FLOW_BUDGET_PER_NETWORK, evicted.clone());
        let established = udp(1, 2, 5000, 53);
        assert_eq!(net_b.check(&p, established), Verdict::Allow);
        for i in 0..(4 * FLOW_BUDGET_PER_NETWORK) as u32 {
            net_a.check(&p, udp(1, 2, (i >> 16) as u16, i as u16));
        }
        assert!(net_a.len() <= FLOW_BUDGET_PER_NETWORK);
        assert!(evicted.get() > 0);
        assert_eq!(net_b.len(), 1);
        assert!(net_b.contains(&established));
        assert_eq!(net_b.check(&p, established.reverse()), Verdict::Allow);
    }

    #[test]
    fn icmp_echo_state_lets_the_reply_in_but_not_a_reverse_ping() {
        let p = one_way();
        let mut cache = FlowCache::default();
        // m1 pings m2 (allowed): the reply comes back.
        assert_eq!(cache.check(&p, echo(1, 2, 7, false)), Verdict::Allow);
        assert_eq!(cache.check(&p, echo(2, 1, 7, true)), Verdict::Allow);
        // m2 pings m1 with the same identifier: a request, not a reply,
        // so the state of m1's ping does not carry it.
        assert_eq!(cache.check(&p, echo(2, 1, 7, false)), Verdict::Deny);
        // A reply nobody asked for is a new flow m2 -> m1: denied.
        assert_eq!(cache.check(&p, echo(2, 1, 8, true)), Verdict::Deny);
        // m1 sends an unsolicited echo reply (allowed m1 -> m2); a request
        // from m2 with that identifier still does not pass.
        assert_eq!(cache.check(&p, echo(1, 2, 9, true)), Verdict::Allow);
        assert_eq!(cache.check(&p, echo(2, 1, 9, false)), Verdict::Deny);
        // Other ICMP from m2 (ports 0) never rides on state either.
        assert_eq!(cache.check(&p, echo(1, 2, 0, false)), Verdict::Allow);
        let other = FlowKey {
            dport: 0,
            sport: 0,
            ..echo(2, 1, 0, false)
        };
        assert_eq!(cache.check(&p, other), Verdict::Deny);
        // The same over IPv6 with ICMPv6.
        let echo6 = |s, d, id, reply| FlowKey {
            addrs: pair6(s, d),
            proto: proto::ICMPV6,
            ..echo(s, d, id, reply)
        };
        assert_eq!(cache.check(&p, echo6(1, 2, 7, false)), Verdict::Allow);
        assert_eq!(cache.check(&p, echo6(2, 1, 7, true)), Verdict::Allow);
        assert_eq!(cache.check(&p, echo6(2, 1, 7, false)), Verdict::Deny);
        assert_eq!(cache.check(&p, echo6(2, 1, 8, true)), Verdict::Deny);
        // The IPv4 state of a ping does not let an IPv6 reply in.
        assert_eq!(cache.check(&p, echo(1, 2, 11, false)), Verdict::Allow);
        assert_eq!(cache.check(&p, echo6(2, 1, 11, true)), Verdict::Deny);
        // TCP and UDP replies still pass on state.
        let fwd = udp(1, 2, 4000, 53);
        assert_eq!(cache.check(&p, fwd), Verdict::Allow);
        assert_eq!(cache.check(&p, fwd.reverse()), Verdict::Allow);
    }
}
