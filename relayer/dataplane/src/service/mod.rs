//! Services: a flow to a service address goes to one healthy replica
//! (a member naming the service), chosen when the flow starts by the
//! lowest cost (path RTT, zero for a local replica, see [`health`], plus
//! the member's weight set by the tenant, see [`replica_cost`]) and pinned
//! to it for the flow's life ([`pins`]), unless that replica turns
//! unhealthy or is removed. A weight change reaches new flows only: pins
//! survive the table rebuild it causes.
//!
//! The client's relayer does it all: it rewrites the destination of the
//! client's packets to the replica ([`ServiceTable::to_replica`]) before
//! the usual route and firewall checks, so the sender's egress must allow
//! the replica (a `services` selector naming the service matches each of
//! its replicas) and the replica's ingress the sender, on both relayers,
//! with the receiver's anti-spoofing unchanged; it rewrites the source of
//! the replica's answers back to the service address
//! ([`ServiceTable::answer`]) just before they reach the client.

pub(crate) mod health;
mod pins;

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use avpn_model::{MemberInfo, ServiceInfo};
use rustc_hash::FxHashMap;

use crate::datapath::MemberRoute;
use crate::metrics::DropReason;
use crate::packet::nat::{self, End};
use crate::packet::{self, PacketInfo};
pub(crate) use pins::Pins;
use pins::Tuple;

/// A replica: one address (of the service address's family), its route
/// and its member's weight (milliseconds, 0 when none).
#[derive(Debug)]
struct Replica {
    addr: IpAddr,
    route: Arc<MemberRoute>,
    weight: u32,
}

/// The replicas behind one service address, by member name.
#[derive(Debug, Default)]
struct Service {
    replicas: Vec<Replica>,
}

impl Service {
    fn replica(&self, addr: IpAddr) -> Option<&Replica> {
        self.replicas.iter().find(|r| r.addr == addr)
    }

    /// The healthy replica of lowest cost, other than the client itself.
    fn choose(&self, client: IpAddr, now: Instant) -> Option<IpAddr> {
        lowest_cost(
            self.replicas
                .iter()
                .filter(|r| r.addr != client && health::healthy(&r.route, now))
                .map(|r| (r.addr, replica_cost(health::cost(&r.route), r.weight))),
        )
    }
}

/// One network's services, rebuilt with its tables; the pins are carried
/// from one rebuild to the next.
#[derive(Debug, Default)]
pub(crate) struct ServiceTable {
    by_addr: FxHashMap<IpAddr, Service>,
    pins: Arc<Mutex<Pins>>,
}

impl ServiceTable {
    /// The table of `services`, whose replicas are the `members` naming
    /// them (with their routes), keeping `pins` but for pins to replicas
    /// that are gone.
    pub fn build<'a>(
        services: &BTreeMap<String, ServiceInfo>,
        members: impl Iterator<Item = (&'a MemberInfo, Arc<MemberRoute>)>,
        pins: Arc<Mutex<Pins>>,
    ) -> Self {
        let mut by_addr: FxHashMap<IpAddr, Service> = FxHashMap::default();
        for (m, route) in members {
            let Some(s) = m.service.as_ref().and_then(|n| services.get(n)) else {
                continue;
            };
            for (svc, addr) in s.addrs().zip(m.addrs()) {
                by_addr.entry(svc).or_default().replicas.push(Replica {
                    addr,
                    route: route.clone(),
                    weight: m.weight.unwrap_or(0),
                });
            }
        }
        lock(&pins).retain(|svc, replica| {
            by_addr
                .get(&svc)
                .is_some_and(|s| s.replica(replica).is_some())
        });
        ServiceTable { by_addr, pins }
    }

    /// Where a forwarded TCP connection (one flow for its whole life, so
    /// nothing to pin) from `client` to `dst` goes: a service address
    /// becomes its best healthy replica now, any other address stays;
    /// `None` when the service has no healthy replica.
    pub fn stream_target(&self, client: IpAddr, dst: SocketAddr) -> Option<SocketAddr> {
        match self.by_addr.get(&dst.ip()) {
            None => Some(dst),
            Some(s) => s
                .choose(client, Instant::now())
                .map(|ip| SocketAddr::new(ip, dst.port())),
        }
    }

    /// The pins, for the next rebuild.
    pub fn pins(&self) -> Arc<Mutex<Pins>> {
        self.pins.clone()
    }

    /// Sends a client's packet to a service address on to its flow's
    /// replica (pinning a new flow to the best healthy one): rewrites the
    /// destination of `pkt` and returns its new flow identity. Other
    /// packets are returned unchanged.
    pub fn to_replica(&self, pkt: &mut [u8], info: PacketInfo) -> Result<PacketInfo, DropReason> {
        let Some(service) = self.by_addr.get(&info.dst()) else {
            return Ok(info);
        };
        let now = Instant::now();
        let t = Tuple::of(&info);
        let mut pins = lock(&self.pins);
        let keep = |r| {
            service
                .replica(r)
                .is_some_and(|r| health::healthy(&r.route, now))
        };
        let replica = match pins.lookup(&t, now, keep) {
            Some(r) => r,
            None => {
                let r = service
                    .choose(info.src(), now)
                    .ok_or(DropReason::NoReplica)?;
                pins.pin(t, r, now);
                r
            }
        };
        drop(pins);
        nat::set_addr(pkt, End::Destination, replica).map_err(|_| DropReason::Malformed)?;
        packet::parse(pkt).map_err(|_| DropReason::Malformed)
    }

    /// The service address an answer from a replica comes from, when the
    /// packet (`info`) answers a pinned flow.
    pub fn answer(&self, info: &PacketInfo) -> Option<IpAddr> {
        if self.by_addr.is_empty() {
            return None;
        }
        lock(&self.pins).answer(&Tuple::of(info))
    }
}

/// A replica's cost in microseconds: its path cost (`path_us`, the path
/// RTT or 0 for a local replica, see [`health::cost`]) plus its member's
/// weight in milliseconds.
fn replica_cost(path_us: u64, weight_ms: u32) -> u64 {
    path_us.saturating_add(u64::from(weight_ms) * 1000)
}

/// The candidate of lowest cost; the first one among equals (replicas are
/// in member-name order, so ties go the same way on every relayer).
fn lowest_cost(candidates: impl Iterator<Item = (IpAddr, u64)>) -> Option<IpAddr> {
    candidates.min_by_key(|(_, cost)| *cost).map(|(a, _)| a)
}

/// Rewrites the source of an answer to the service address `from`.
pub(crate) fn answer_from(pkt: &mut [u8], from: IpAddr) -> Result<(), DropReason> {
    nat::set_addr(pkt, End::Source, from).map_err(|_| DropReason::Malformed)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use avpn_model::{LeaseId, Policy};

    use super::*;
    use crate::packet::proto;

    #[test]
    fn the_cheapest_candidate_wins_and_ties_keep_the_order() {
        let a: IpAddr = [100, 64, 0, 3].into();
        let b: IpAddr = [100, 64, 0, 4].into();
        let c: IpAddr = [100, 64, 0, 5].into();
        assert_eq!(
            lowest_cost([(a, 30_000), (b, 5_000), (c, 9_000)].into_iter()),
            Some(b)
        );
        assert_eq!(lowest_cost([(a, 0), (b, 0)].into_iter()), Some(a));
        assert_eq!(lowest_cost(std::iter::empty()), None);
    }

    /// A heavier near replica loses to a lighter far one; equal weights
    /// keep the RTT order; a local replica (path cost 0) competes by its
    /// weight alone.
    #[test]
    fn weights_add_to_the_path_rtt() {
        let near: IpAddr = [100, 64, 0, 3].into();
        let far: IpAddr = [100, 64, 0, 4].into();
        let mid: IpAddr = [100, 64, 0, 5].into();
        let local: IpAddr = [100, 64, 0, 6].into();
        // 2 ms + 50 ms against 30 ms.
        let candidates = [
            (near, replica_cost(2_000, 50)),
            (far, replica_cost(30_000, 0)),
        ];
        assert_eq!(lowest_cost(candidates.into_iter()), Some(far));
        let candidates = [
            (far, replica_cost(30_000, 20)),
            (near, replica_cost(5_000, 20)),
            (mid, replica_cost(9_000, 20)),
        ];
        assert_eq!(lowest_cost(candidates.into_iter()), Some(near));
        // Equal in total: the first in member order, as without weights.
        let candidates = [
            (far, replica_cost(4_000, 1)),
            (near, replica_cost(5_000, 0)),
        ];
        assert_eq!(lowest_cost(candidates.into_iter()), Some(far));
        // 10 ms against a 4 ms path, then 3 ms against it.
        for (weight, winner) in [(10, far), (3, local)] {
            let candidates = [
                (local, replica_cost(0, weight)),
                (far, replica_cost(4_000, 0)),
            ];
            assert_eq!(lowest_cost(candidates.into_iter()), Some(winner));
        }
        // No connection (cost u64::MAX) stays the most expensive.
        assert_eq!(replica_cost(u64::MAX, 60_000), u64::MAX);
    }

    fn replica(name: &str, host: u8, weight: Option<u32>) -> MemberInfo {
        MemberInfo {
            name: name.into(),
            ip: [100, 64, 0, host].into(),
            ip6: None,
            lease: LeaseId {
                owner: "owner".into(),
                dseq: host.into(),
                gseq: 1,
                oseq: 1,
                provider: "remote".into(),
                bseq: 0,
            },
            tags: Default::default(),
            service: Some("api".into()),
            policy: Policy::default(),
            weight,
        }
    }

    fn route() -> Arc<MemberRoute> {
        Arc::new(MemberRoute {
            provider: "remote".into(),
            local: None,
            peer: None,
            traffic: Default::default(),
        })
    }

    /// Replicas carry their members' weights; a weight change rebuilds the
    /// table but keeps the flows pinned before it (new flows only).
    #[test]
    fn a_weight_change_keeps_pinned_flows() {
        let svc: IpAddr = [100, 64, 0, 9].into();
        let services = BTreeMap::from([(
            "api".to_owned(),
            ServiceInfo {
                ip: [100, 64, 0, 9].into(),
                ip6: None,
            },
        )]);
        let weights = |t: &ServiceTable| -> Vec<(IpAddr, u32)> {
            t.by_addr[&svc]
                .replicas
                .iter()
                .map(|r| (r.addr, r.weight))
                .collect()
        };
        let (a, b) = (replica("a", 2, None), replica("b", 3, Some(40)));
        let table = ServiceTable::build(
            &services,
            [(&a, route()), (&b, route())].into_iter(),
            Arc::default(),
        );
        let (a_ip, b_ip) = (IpAddr::V4(a.ip), IpAddr::V4(b.ip));
        assert_eq!(weights(&table), vec![(a_ip, 0), (b_ip, 40)]);
        let flow = packet::build::ipv4(
            [100, 64, 0, 7].into(),
            [100, 64, 0, 9].into(),
            proto::TCP,
            4000,
            80,
        );
        let flow = Tuple::of(&packet::parse(&flow).unwrap());
        let now = Instant::now();
        lock(&table.pins).pin(flow, a_ip, now);

        let heavy_a = replica("a", 2, Some(60_000));
        let table = ServiceTable::build(
            &services,
            [(&heavy_a, route()), (&b, route())].into_iter(),
            table.pins(),
        );
        assert_eq!(weights(&table), vec![(a_ip, 60_000), (b_ip, 40)]);
        assert_eq!(lock(&table.pins).lookup(&flow, now, |_| true), Some(a_ip));
    }
}
