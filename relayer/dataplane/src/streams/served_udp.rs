//! A userspace member's served UDP ports on its shadow stack: a socket on
//! `member_ip:port` in the shadow namespace receives the datagrams other
//! members' packets carried (the packet path checked each one). Every
//! peer address and port is a flow with its own socket in the lease's
//! namespace, connected to the port's local address, so the lease's
//! server sees one client per flow and its replies go back to that peer
//! from `member_ip:port`.
//!
//! Flows are capped per member ([`crate::limits::MAX_UDP_FLOWS_PER_MEMBER`],
//! datagrams of further flows are dropped and counted `udp_flow_limit`)
//! and end after [`UDP_FLOW_IDLE`] without a datagram either way. A
//! policy change needs no cut: the packet path drops the flow's
//! datagrams at once, and the flow idles out.

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::net::UdpSocket;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use super::UserspaceMember;
use crate::datapath::Shared;
use crate::limits::UDP_FLOW_IDLE;
use crate::metrics::DropReason;

/// One peer's flow into a served UDP port.
struct UdpFlow {
    /// In the lease's namespace, connected to the served address.
    socket: UdpSocket,
    opened: Instant,
    /// Milliseconds after `opened` of the last datagram either way.
    last: AtomicU64,
}

impl UdpFlow {
    fn touch(&self) {
        let ms = self.opened.elapsed().as_millis() as u64;
        self.last.store(ms, Ordering::Relaxed);
    }

    /// When the flow ends if no datagram comes before.
    fn idle_at(&self) -> Instant {
        let last = std::time::Duration::from_millis(self.last.load(Ordering::Relaxed));
        self.opened + last + UDP_FLOW_IDLE
    }
}

type Flows = Arc<Mutex<HashMap<SocketAddr, Arc<UdpFlow>>>>;

/// One served UDP port: its socket in the shadow namespace, its target in
/// the lease's namespace and its flows.
struct Port {
    shared: Arc<Shared>,
    me: UserspaceMember,
    socket: Arc<UdpSocket>,
    target: SocketAddr,
    flows: Flows,
    /// The member's flow permits (all its served UDP ports).
    permits: Arc<Semaphore>,
}

/// Receives datagrams on served UDP port `socket` until cancelled and
/// relays each to `target` in its peer's flow, within the member's cap of
/// flows (`permits`).
pub(crate) async fn serve_udp(
    shared: Arc<Shared>,
    me: UserspaceMember,
    socket: UdpSocket,
    target: SocketAddr,
    permits: Arc<Semaphore>,
) {
    let port = Port {
        shared,
        socket: Arc::new(socket),
        target,
        flows: Arc::default(),
        permits,
        me,
    };
    if port.socket.writable().await.is_err() {
        return;
    }
    let mut buf = vec![0u8; port.me.shadow.max_udp_payload()];
    loop {
        let (n, from) = match port.socket.recv_from(&mut buf).await {
            Ok(x) => x,
            Err(e) => {
                tracing::debug!(%e, "served udp port");
                continue;
            }
        };
        let known = port.lock().get(&from).cloned();
        let Some(flow) = (match known {
            Some(f) => Some(f),
            None => port.open(from).await,
        }) else {
            continue;
        };
        flow.touch();
        // A full socket buffer drops the datagram, as UDP may.
        let _ = flow.socket.try_send(&buf[..n]);
    }
}

impl Port {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<SocketAddr, Arc<UdpFlow>>> {
        self.flows.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Opens the flow of peer `from` and starts relaying its replies.
    async fn open(&self, from: SocketAddr) -> Option<Arc<UdpFlow>> {
        let Ok(permit) = self.permits.clone().try_acquire_owned() else {
            self.shared.metrics.drop(DropReason::UdpFlowLimit);
            return None;
        };
        let any: SocketAddr = if self.target.is_ipv4() {
            (Ipv4Addr::UNSPECIFIED, 0).into()
        } else {
            (Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let socket = match self.me.lease.udp_bind(any).await {
            Ok(s) => s,
            Err(e) => {
                tracing::debug!(%e, "served udp flow socket");
                return None;
            }
        };
        socket.connect(self.target).await.ok()?;
        // `try_send` fails until the runtime has seen the new socket
        // writable once.
        socket.writable().await.ok()?;
        let flow = Arc::new(UdpFlow {
            socket,
            opened: Instant::now(),
            last: AtomicU64::new(0),
        });
        self.lock().insert(from, flow.clone());
        let entry = FlowEntry {
            flows: self.flows.clone(),
            peer: from,
            flow: flow.clone(),
        };
        let max = self.me.shadow.max_udp_payload();
        self.me.tasks.spawn(replies(
            self.shared.clone(),
            entry,
            self.socket.clone(),
            max,
            permit,
        ));
        Some(flow)
    }
}

/// A flow's place in its port's table, removed when its task ends.
struct FlowEntry {
    flows: Flows,
    peer: SocketAddr,
    flow: Arc<UdpFlow>,
}

impl Drop for FlowEntry {
    fn drop(&mut self) {
        let mut flows = self.flows.lock().unwrap_or_else(|e| e.into_inner());
        if flows
            .get(&self.peer)
            .is_some_and(|f| Arc::ptr_eq(f, &self.flow))
        {
            flows.remove(&self.peer);
        }
    }
}

/// Relays the lease's replies in one flow to its peer from the served
/// port (`out`) until the flow idles out or is cancelled; replies larger
/// than `max` bytes (one overlay packet) are dropped.
async fn replies(
    shared: Arc<Shared>,
    entry: FlowEntry,
    out: Arc<UdpSocket>,
    max: usize,
    _permit: OwnedSemaphorePermit,
) {
    let flow = &entry.flow;
    let mut buf = vec![0u8; max + 1];
    loop {
        let idle_at = flow.idle_at();
        tokio::select! {
            r = flow.socket.recv(&mut buf) => match r {
                Ok(n) if n > max => shared.metrics.drop(DropReason::TooBig),
                Ok(n) => {
                    flow.touch();
                    let _ = out.try_send_to(&buf[..n], entry.peer);
                }
                // An ICMP error from the lease (nothing listens): the
                // flow idles out unless the server comes back.
                Err(_) => {}
            },
            _ = tokio::time::sleep_until(idle_at) => {
                if flow.idle_at() <= Instant::now() {
                    return;
                }
            }
        }
    }
}
