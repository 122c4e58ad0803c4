//! Receiving halves of sealed channels, by receiver id, and where the
//! packets they open go.
//!
//! A sealed datagram is opened in the socket's receive buffer and its
//! packet handed straight to the connection's [`Delivery`], inside the
//! receive call of the endpoint's socket: no copy into a queue and no
//! wake-up of another task. Each delivery that took packets during one
//! receive call (one `recvmmsg`) is flushed at its end, so its packets
//! reach their TUNs in one coalescing batch.

use std::sync::Arc;

use rustc_hash::FxHashMap;

use super::Paths;
use crate::sealed::Opener;

/// Where the packets of one sealed channel go once opened: the data
/// path's receiving side of the connection. Called from the socket's
/// receive path.
pub(crate) trait Delivery: Send + Sync {
    /// Takes one opened datagram (wire header and IP packet): checks it
    /// and holds it for [`Delivery::flush`], or counts why it is dropped.
    fn packet(&self, datagram: &[u8]);
    /// Writes the packets taken since the last flush.
    fn flush(&self);
}

/// One registered channel.
#[derive(Clone)]
pub(crate) struct Receiver {
    pub opener: Arc<Opener>,
    pub delivery: Arc<dyn Delivery>,
}

/// Receivers by receiver id.
pub(crate) type Receivers = FxHashMap<u64, Receiver>;

/// Deliveries that took packets during one receive call.
#[derive(Default)]
pub(crate) struct Touched(Vec<Arc<dyn Delivery>>);

impl Touched {
    /// Notes that `d` took a packet.
    pub fn add(&mut self, d: &Arc<dyn Delivery>) {
        if !self.0.iter().any(|t| Arc::ptr_eq(t, d)) {
            self.0.push(d.clone());
        }
    }

    /// Flushes every delivery noted.
    pub fn flush(self) {
        for d in self.0 {
            d.flush();
        }
    }
}

/// Keeps a channel's receiving half registered with its [`Paths`] until
/// dropped (when the connection's receive task ends or is cancelled).
pub(crate) struct Registration {
    paths: Arc<Paths>,
    id: u64,
}

impl Registration {
    pub(super) fn new(paths: Arc<Paths>, id: u64) -> Self {
        Registration { paths, id }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.paths.remove_receiver(self.id);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use prometheus_client::registry::Registry;

    use super::*;
    use crate::metrics::{DropReason, Metrics};
    use crate::sealed::from_secret;

    /// Records what it is handed.
    #[derive(Default)]
    struct Record {
        packets: Mutex<Vec<Vec<u8>>>,
        flushes: AtomicUsize,
    }

    impl Delivery for Record {
        fn packet(&self, datagram: &[u8]) {
            self.packets.lock().unwrap().push(datagram.to_vec());
        }

        fn flush(&self) {
            self.flushes.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Opened packets reach the delivery registered for their channel,
    /// flushed once per receive call however many it took; once the
    /// registration is dropped (its connection's receive task ended or
    /// was cancelled) the channel's frames are refused.
    #[tokio::test]
    async fn opened_packets_reach_their_delivery_until_unregistered() {
        let metrics = Metrics::new(&mut Registry::default());
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let paths = Paths::new(socket, metrics.clone(), 1, 1).unwrap();
        let (sealer, _) = from_secret(&[9; 32], true);
        let (_, opener) = from_secret(&[9; 32], false);
        let id = opener.id();
        let record = Arc::new(Record::default());
        let registration = paths.add_receiver(Arc::new(opener), record.clone());
        let seal = |p: &[u8]| {
            let mut f = Vec::new();
            assert!(sealer.seal_into(&mut f, p));
            f
        };
        let mut touched = Touched::default();
        for p in [b"one", b"two"] {
            paths.open_sealed(id, &mut seal(p), &mut touched);
        }
        touched.flush();
        assert_eq!(*record.packets.lock().unwrap(), [b"one", b"two"]);
        assert_eq!(record.flushes.load(Ordering::Relaxed), 1);

        let rejected = || metrics.drop_counter(DropReason::SealedRejected).get();
        assert_eq!(rejected(), 0);
        drop(registration);
        let mut touched = Touched::default();
        paths.open_sealed(id, &mut seal(b"three"), &mut touched);
        touched.flush();
        assert_eq!(record.packets.lock().unwrap().len(), 2);
        assert_eq!(record.flushes.load(Ordering::Relaxed), 1);
        assert_eq!(rejected(), 1);
    }
}
