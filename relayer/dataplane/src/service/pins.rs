//! The service flow table: which replica a flow to a service address was
//! pinned to, and the reverse entry that turns the replica's answers back
//! into the service's. Bounded ([`SERVICE_PINS_PER_NETWORK`], oldest pin
//! evicted first) and forgetting idle flows ([`SERVICE_PIN_IDLE`]).

use std::collections::VecDeque;
use std::net::IpAddr;
use std::time::Instant;

use rustc_hash::FxHashMap;

use crate::limits::{SERVICE_PIN_IDLE, SERVICE_PINS_PER_NETWORK};
use crate::packet::PacketInfo;

/// One direction of a flow: protocol, source and destination with ports
/// (ICMP echo: the identifier as both ports).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Tuple {
    proto: u8,
    src: IpAddr,
    sport: u16,
    dst: IpAddr,
    dport: u16,
}

impl Tuple {
    /// The tuple of a packet as parsed.
    pub fn of(info: &PacketInfo) -> Self {
        Tuple {
            proto: info.proto,
            src: info.src(),
            sport: info.sport,
            dst: info.dst(),
            dport: info.dport,
        }
    }

    /// The tuple of the answers once the destination is `to`.
    fn answer_from(&self, to: IpAddr) -> Self {
        Tuple {
            proto: self.proto,
            src: to,
            sport: self.dport,
            dst: self.src,
            dport: self.sport,
        }
    }
}

#[derive(Debug)]
struct Pin {
    replica: IpAddr,
    last: Instant,
    seq: u64,
}

/// Pinned flows of one network, carried from one table rebuild to the next.
#[derive(Debug)]
pub(crate) struct Pins {
    /// Client → service tuple: its replica.
    forward: FxHashMap<Tuple, Pin>,
    /// Replica → client tuple: the service address to answer from.
    reverse: FxHashMap<Tuple, IpAddr>,
    /// Pins in creation order, for eviction (entries of pins since dropped
    /// or replaced are skipped; compacted when it grows past twice the
    /// budget).
    order: VecDeque<(Tuple, u64)>,
    next_seq: u64,
    budget: usize,
}

impl Default for Pins {
    fn default() -> Self {
        Pins::with_budget(SERVICE_PINS_PER_NETWORK)
    }
}

impl Pins {
    /// An empty table holding at most `budget` pins.
    pub fn with_budget(budget: usize) -> Self {
        Pins {
            forward: FxHashMap::default(),
            reverse: FxHashMap::default(),
            order: VecDeque::new(),
            next_seq: 0,
            budget: budget.max(1),
        }
    }

    /// The replica flow `t` is pinned to, if the pin is live and `keep`
    /// accepts the replica; a stale or refused pin is dropped.
    pub fn lookup(
        &mut self,
        t: &Tuple,
        now: Instant,
        keep: impl Fn(IpAddr) -> bool,
    ) -> Option<IpAddr> {
        let pin = self.forward.get_mut(t)?;
        if now.duration_since(pin.last) < SERVICE_PIN_IDLE && keep(pin.replica) {
            pin.last = now;
            return Some(pin.replica);
        }
        self.drop_pin(t);
        None
    }

    /// Pins flow `t` to `replica`, evicting the oldest pin when full.
    pub fn pin(&mut self, t: Tuple, replica: IpAddr, now: Instant) {
        self.drop_pin(&t);
        while self.forward.len() >= self.budget {
            let Some((old, seq)) = self.order.pop_front() else {
                break;
            };
            if self.forward.get(&old).is_some_and(|p| p.seq == seq) {
                self.drop_pin(&old);
            }
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.reverse.insert(t.answer_from(replica), t.dst);
        self.forward.insert(
            t,
            Pin {
                replica,
                last: now,
                seq,
            },
        );
        self.order.push_back((t, seq));
        if self.order.len() > 2 * self.budget {
            let forward = &self.forward;
            self.order
                .retain(|(k, s)| forward.get(k).is_some_and(|p| p.seq == *s));
        }
    }

    /// The service address an answer `t` (replica → client) comes from,
    /// when it answers a pinned flow.
    pub fn answer(&self, t: &Tuple) -> Option<IpAddr> {
        self.reverse.get(t).copied()
    }

    /// Drops every pin `keep(service, replica)` refuses (removed replicas).
    pub fn retain(&mut self, keep: impl Fn(IpAddr, IpAddr) -> bool) {
        let gone: Vec<Tuple> = self
            .forward
            .iter()
            .filter(|(t, p)| !keep(t.dst, p.replica))
            .map(|(t, _)| *t)
            .collect();
        for t in &gone {
            self.drop_pin(t);
        }
    }

    /// Number of pinned flows.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.forward.len()
    }

    fn drop_pin(&mut self, t: &Tuple) {
        if let Some(p) = self.forward.remove(t) {
            self.reverse.remove(&t.answer_from(p.replica));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::packet::{self, proto};

    fn flow(sport: u16) -> Tuple {
        let p = packet::build::ipv4(
            [100, 64, 0, 2].into(),
            [100, 64, 0, 9].into(),
            proto::TCP,
            sport,
            80,
        );
        Tuple::of(&packet::parse(&p).unwrap())
    }

    const R1: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(100, 64, 0, 5));
    const R2: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(100, 64, 0, 6));

    #[test]
    fn a_pin_holds_answers_map_back_and_idle_pins_expire() {
        let mut pins = Pins::default();
        let now = Instant::now();
        let t = flow(4000);
        pins.pin(t, R1, now);
        assert_eq!(pins.lookup(&t, now, |_| true), Some(R1));
        let answer = t.answer_from(R1);
        assert_eq!(pins.answer(&answer), Some(t.dst));
        // A refused replica (unhealthy) drops the pin and its answer.
        assert_eq!(pins.lookup(&t, now, |r| r != R1), None);
        assert_eq!(pins.answer(&answer), None);
        pins.pin(t, R2, now);
        let later = now + SERVICE_PIN_IDLE + Duration::from_secs(1);
        assert_eq!(pins.lookup(&t, later, |_| true), None);
        assert_eq!(pins.len(), 0);
    }

    #[test]
    fn the_table_is_bounded_and_evicts_the_oldest() {
        let mut pins = Pins::with_budget(4);
        let now = Instant::now();
        for port in 0..10u16 {
            pins.pin(flow(port), R1, now);
            assert!(pins.len() <= 4);
        }
        assert_eq!(pins.lookup(&flow(0), now, |_| true), None);
        assert_eq!(pins.lookup(&flow(9), now, |_| true), Some(R1));
        // Re-pinning the same flow many times keeps the order list bounded.
        for _ in 0..100 {
            pins.pin(flow(9), R2, now);
        }
        assert!(pins.order.len() <= 8);
        pins.retain(|_, r| r != R2);
        assert_eq!(pins.lookup(&flow(9), now, |_| true), None);
    }
}
