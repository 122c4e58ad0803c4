//! The endpoint socket's kernel buffers: how large they are, and how many
//! datagrams arrived to a full receive buffer.
//!
//! A burst the relayer cannot take at once waits in the socket's receive
//! buffer; what does not fit is dropped by the kernel, the one drop on the
//! data path the relayer does not make itself. The buffers are therefore
//! made large ([`BUFFER_BYTES`]) even where the host's `net.core.rmem_max`
//! is the small default (about 208 KiB), as wireguard-go does: with
//! `CAP_NET_ADMIN`, which the relayer holds for its TUN devices, the
//! `…BUFFORCE` options are not capped. What the kernel still drops is
//! counted (`SO_MEMINFO`) and published as
//! `avpn_dataplane_socket_receive_drops`.
//!
//! Hand-written because socket2 exposes neither the `…BUFFORCE` options nor
//! `SO_MEMINFO`.

use std::io;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU32, Ordering};

use super::sockopt::set_int;
use crate::metrics::Metrics;

/// Bytes asked for each of the send and receive buffers.
pub const BUFFER_BYTES: usize = 8 << 20;

/// Values `SO_MEMINFO` returns (`SK_MEMINFO_VARS`).
const MEMINFO_VARS: usize = libc::SK_MEMINFO_DROPS as usize + 1;

/// Sets both buffers of `socket` to [`BUFFER_BYTES`], past
/// `net.core.{r,w}mem_max` where the process may; otherwise as large as
/// the host allows.
pub fn enlarge(socket: &socket2::Socket) {
    let bytes = BUFFER_BYTES as libc::c_int;
    if set_int(socket, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, bytes).is_err() {
        let _ = socket.set_recv_buffer_size(BUFFER_BYTES);
    }
    if set_int(socket, libc::SOL_SOCKET, libc::SO_SNDBUFFORCE, bytes).is_err() {
        let _ = socket.set_send_buffer_size(BUFFER_BYTES);
    }
}

/// Datagrams the kernel dropped at `socket` so far (it counts modulo
/// 2^32).
fn receive_drops(socket: &impl AsRawFd) -> io::Result<u32> {
    let mut info = [0u32; MEMINFO_VARS];
    let mut len = std::mem::size_of_val(&info) as libc::socklen_t;
    // SAFETY: a valid descriptor; the kernel writes at most `len` bytes
    // into `info` and sets `len` to what it wrote.
    let r = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_MEMINFO,
            info.as_mut_ptr().cast(),
            &mut len,
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    if (len as usize) < std::mem::size_of_val(&info) {
        return Err(io::Error::other("SO_MEMINFO without a drop count"));
    }
    Ok(info[libc::SK_MEMINFO_DROPS as usize])
}

/// Moves the kernel's drop count of one socket into the metrics.
#[derive(Debug, Default)]
pub(crate) struct ReceiveDrops {
    /// The count at the last sample.
    seen: AtomicU32,
}

impl ReceiveDrops {
    /// Adds the drops since the last sample to `metrics`.
    pub fn sample(&self, socket: &impl AsRawFd, metrics: &Metrics) {
        let Ok(now) = receive_drops(socket) else {
            return;
        };
        let before = self.seen.swap(now, Ordering::Relaxed);
        metrics.socket_receive_drops(u64::from(now.wrapping_sub(before)));
    }
}

#[cfg(test)]
mod tests {
    use std::net::UdpSocket;

    use prometheus_client::registry::Registry;

    use super::*;

    /// Datagrams sent to a full receive buffer are counted, once each
    /// sample, and only those.
    #[test]
    fn overflows_of_the_receive_buffer_are_counted() {
        let rx = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None).unwrap();
        // The kernel's floor (about 2 KiB, doubled): a few datagrams fill it.
        rx.set_recv_buffer_size(1).unwrap();
        rx.bind(
            &"127.0.0.1:0"
                .parse::<std::net::SocketAddr>()
                .unwrap()
                .into(),
        )
        .unwrap();
        let rx: UdpSocket = rx.into();
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let metrics = Metrics::new(&mut Registry::default());
        let drops = ReceiveDrops::default();
        drops.sample(&rx, &metrics);
        assert_eq!(metrics.socket_receive_drops_total(), 0);
        for _ in 0..200 {
            tx.send_to(&[0u8; 1000], rx.local_addr().unwrap()).unwrap();
        }
        drops.sample(&rx, &metrics);
        let counted = metrics.socket_receive_drops_total();
        let queued = {
            rx.set_nonblocking(true).unwrap();
            let mut b = [0u8; 2000];
            std::iter::from_fn(|| rx.recv(&mut b).ok()).count() as u64
        };
        assert!(
            queued > 0 && counted > 0,
            "queued {queued}, dropped {counted}"
        );
        assert_eq!(counted + queued, 200);
        drops.sample(&rx, &metrics);
        assert_eq!(
            metrics.socket_receive_drops_total(),
            counted,
            "counted once"
        );
    }

    /// With the relayer's privileges the buffers reach their size even
    /// past the host's maximum.
    #[test]
    fn buffers_are_enlarged() {
        // SAFETY: getuid has no preconditions.
        if unsafe { libc::getuid() } != 0 {
            eprintln!("SKIPPED: needs root");
            return;
        }
        let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None).unwrap();
        enlarge(&s);
        // The kernel reports twice what was set (its bookkeeping share);
        // a host maximum below the size (here 4 MiB, the default about
        // 208 KiB) would cap both.
        assert!(s.recv_buffer_size().unwrap() >= 2 * BUFFER_BYTES);
        assert!(s.send_buffer_size().unwrap() >= 2 * BUFFER_BYTES);
    }
}
