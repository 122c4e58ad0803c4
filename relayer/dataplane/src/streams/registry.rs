//! The registry of open forwarded connections, with their flows and the
//! QUIC connection carrying them.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use avpn_model::{NetworkId, Verdict};
use tokio_util::sync::CancellationToken;

use crate::datapath::Tables;
use crate::packet::{Addrs, proto};

/// One open forward.
#[derive(Debug)]
pub(super) struct LiveStream {
    pub network: NetworkId,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub dport: u16,
    /// `stable_id` of the QUIC connection carrying it, if any.
    pub conn: Option<usize>,
    /// Ends the forward.
    pub cut: CancellationToken,
}

/// Forwarded connections currently open, with their flows.
#[derive(Debug, Default)]
pub(crate) struct StreamRegistry {
    next: AtomicU64,
    live: Mutex<HashMap<u64, LiveStream>>,
}

impl StreamRegistry {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, LiveStream>> {
        self.live.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a forward; returns its id for [`StreamRegistry::remove`].
    pub(super) fn insert(&self, stream: LiveStream) -> u64 {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.lock().insert(id, stream);
        id
    }

    /// Forgets forward `id` (ended, or already cut).
    pub(super) fn remove(&self, id: u64) {
        self.lock().remove(&id);
    }

    /// Number of open forwarded connections.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Number of open forwarded connections carried by QUIC connection
    /// `stable_id`.
    pub fn on_connection(&self, stable_id: usize) -> usize {
        self.lock()
            .values()
            .filter(|s| s.conn == Some(stable_id))
            .count()
    }

    /// Cuts every connection whose flow the new tables no longer allow
    /// (network or member gone, or policy now denies).
    pub fn cut(&self, tables: &Tables) {
        self.lock().retain(|_, s| {
            let allowed = tables.networks.get(&s.network).is_some_and(|n| {
                n.members.contains(s.src)
                    && n.members.contains(s.dst)
                    && Addrs::new(s.src, s.dst)
                        .is_some_and(|a| n.policy.decide(a, proto::TCP, s.dport) == Verdict::Allow)
            });
            if !allowed {
                s.cut.cancel();
            }
            allowed
        });
    }
}
