//! TUN devices created inside a lease's network namespace, with
//! segmentation offloads, batched reads and coalesced writes.
//!
//! The device gets the member's overlay address with the network's prefix
//! length (and its IPv6 address with the network's IPv6 prefix length,
//! when the network has one), so the kernel installs the routes for the
//! whole network through it; it is brought up with an MTU that fits one IP packet into
//! one QUIC datagram ([`tun_mtu`]). Workloads in the namespace need no
//! privilege: they just use the interface. The device disappears when the
//! [`Tun`] is dropped (it is not persistent).

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr};

use bytes::BytesMut;
use tun_rs::VIRTIO_NET_HDR_LEN;

use crate::netns::NetnsWorker;
use crate::wire::DATAGRAM_HEADER_LEN;

/// IPv4 + UDP header bytes below a QUIC packet.
pub const UDP_IPV4_OVERHEAD: u16 = 28;
/// Upper bound of QUIC's per-datagram overhead with quinn's 8-byte
/// connection ids: 1 flags + 8 DCID + 4 packet number + 16 AEAD tag +
/// 1 frame type + 2 length, plus 8 bytes of margin.
pub const QUIC_DATAGRAM_OVERHEAD: u16 = 40;

/// MTU of the TUN device for an underlay MTU, so that an IP packet of that
/// size plus the wire header fits one QUIC datagram (1500 → 1405: the relay header is reserved on every path).
///
/// Oversize packets: TCP sees the TUN MTU and never sends larger segments
/// (its MSS follows from it on both ends, so no clamping is needed); a
/// larger packet with DF (e.g. after the path MTU shrank) is answered with
/// an ICMP "fragmentation needed" carrying the current size, which the
/// sender's kernel turns into path-MTU state; without DF it is dropped and
/// counted as `too_big`.
pub fn tun_mtu(underlay_mtu: u16) -> u16 {
    crate::peers::quic_mtu(underlay_mtu) - QUIC_DATAGRAM_OVERHEAD - DATAGRAM_HEADER_LEN as u16
}

/// Most packets one TUN read can split into, and most packets written
/// per batch (as wireguard-go). A 64 KiB super-packet of segments smaller
/// than 512 bytes (a workload forcing a tiny MSS) does not fit and is
/// dropped as `malformed`; such a flow must use a larger MSS.
pub const BATCH: usize = tun_rs::IDEAL_BATCH_SIZE;

/// Bytes one TUN read may return: the virtio-net header and a 64 KiB
/// super-packet.
const SUPER_PACKET: usize = VIRTIO_NET_HDR_LEN + 65_535;

/// Headroom a packet handed to [`Tun::write_batch`] must have in front of
/// it (the virtio-net header is written there).
pub const HEADROOM: usize = VIRTIO_NET_HDR_LEN;

/// A TUN device inside a lease namespace, opened with the virtio-net
/// header and TCP/UDP segmentation offloads (TSO4/6, USO4/6 where the
/// kernel has them, checksum offload): one read returns a super-packet of
/// up to 64 KiB, split here into MTU-sized packets, and [`Tun::write_batch`]
/// coalesces consecutive segments of a flow (GRO) before writing. The
/// offload framing and coalescing come from `tun-rs` (the same scheme as
/// wireguard-go's).
pub struct Tun {
    dev: tun_rs::AsyncDevice,
    name: String,
    mtu: u16,
}

impl std::fmt::Debug for Tun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tun")
            .field("name", &self.name)
            .field("mtu", &self.mtu)
            .finish()
    }
}

/// Checks an interface name before it reaches the kernel.
fn check_name(name: &str) -> io::Result<()> {
    if name.is_empty() || name.len() >= libc::IFNAMSIZ || name.contains('\0') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "bad interface name",
        ));
    }
    Ok(())
}

impl Tun {
    /// Creates the device `name` in the worker's namespace with address
    /// `ip/prefix` (and `ip6/prefix6` when given) and `mtu`, and brings it
    /// up. Setting the IPv6 address fails when IPv6 is disabled in the
    /// namespace: the attachment then fails as a whole.
    pub async fn create(
        worker: &NetnsWorker,
        name: &str,
        ip: Ipv4Addr,
        prefix: u8,
        ip6: Option<(Ipv6Addr, u8)>,
        mtu: u16,
    ) -> io::Result<Tun> {
        check_name(name)?;
        let name_owned = name.to_owned();
        // Built inside the namespace: the device and its address belong
        // to the thread's network namespace at creation.
        let dev = worker
            .run(move || {
                let mut builder = tun_rs::DeviceBuilder::new()
                    .name(name_owned)
                    .mtu(mtu)
                    .ipv4(ip, prefix, None);
                if let Some((ip6, prefix6)) = ip6 {
                    builder = builder.ipv6(ip6, prefix6);
                }
                builder.offload(true).enable(true).build_sync()
            })
            .await??;
        let name = dev.name()?;
        let dev = tun_rs::AsyncDevice::new(dev)?;
        Ok(Tun { dev, name, mtu })
    }

    /// Interface name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Interface MTU.
    pub fn mtu(&self) -> u16 {
        self.mtu
    }

    /// Waits for the next read and splits it into `batch`; returns how
    /// many packets it holds.
    pub async fn recv_batch(&self, batch: &mut RecvBatch) -> io::Result<usize> {
        let RecvBatch {
            raw,
            bufs,
            sizes,
            offset,
            ..
        } = batch;
        self.dev.recv_multiple(raw, bufs, sizes, *offset).await
    }

    /// Writes packets, each at [`HEADROOM`] in its buffer, coalescing
    /// segments of the same flow first. Buffers may grow (coalescing
    /// appends to the first packet of a flow). Does not wait: a TUN write
    /// hands the packet to the kernel's stack, which queues or drops it
    /// itself (`WouldBlock` would mean the device refused it for now).
    pub fn write_batch(&self, gro: &mut tun_rs::GROTable, bufs: &mut [GroBuf]) -> io::Result<()> {
        if bufs.is_empty() {
            return Ok(());
        }
        // The device's own (non-async) batch write on the non-blocking
        // descriptor.
        let dev: &tun_rs::DeviceImpl = &self.dev;
        dev.send_multiple(gro, bufs, HEADROOM).map(drop)
    }

    /// Writes one packet without waiting (control packets such as ICMP
    /// errors; `WouldBlock` when the device queue is full).
    pub fn try_write(&self, packet: &[u8]) -> io::Result<()> {
        // A zeroed header: no offload, checksum already complete.
        let mut framed = Vec::with_capacity(HEADROOM + packet.len());
        framed.resize(HEADROOM, 0);
        framed.extend_from_slice(packet);
        self.dev.try_send(&framed).map(drop)
    }
}

/// Largest IP packet (IPv4 total length / IPv6 payload length are 16
/// bits).
const MAX_IP_PACKET: usize = 65_535;

/// A packet buffer for [`Tun::write_batch`]: the packet after [`HEADROOM`]
/// bytes. It grows while GRO appends the segments of a flow, up to one
/// 64 KiB IP packet.
///
/// Why a wrapper: tun-rs's GRO merges as long as the buffer's reported
/// capacity holds `2 × headroom + merged length` and does not itself stop
/// at 65,535 bytes; past that it writes a truncated IP length (and can
/// underflow). Reporting this fixed budget as the capacity bounds every
/// merged packet (found by the `gro` fuzz target); the bytes themselves
/// grow through `buf_resize`/`buf_extend_from_slice`.
#[derive(Debug)]
pub struct GroBuf(BytesMut);

impl GroBuf {
    /// A buffer holding `packet` behind the header room.
    pub fn new(packet: &[u8]) -> Self {
        let mut b = BytesMut::with_capacity(HEADROOM + packet.len());
        b.resize(HEADROOM, 0);
        b.extend_from_slice(packet);
        GroBuf(b)
    }

    /// Holds `packet` instead, keeping the allocation.
    pub fn refill(&mut self, packet: &[u8]) {
        self.0.clear();
        self.0.resize(HEADROOM, 0);
        self.0.extend_from_slice(packet);
    }

    /// Bytes allocated.
    pub fn capacity(&self) -> usize {
        self.0.capacity()
    }
}

impl AsRef<[u8]> for GroBuf {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl AsMut<[u8]> for GroBuf {
    fn as_mut(&mut self) -> &mut [u8] {
        &mut self.0
    }
}

impl tun_rs::ExpandBuffer for GroBuf {
    fn buf_capacity(&self) -> usize {
        2 * HEADROOM + MAX_IP_PACKET
    }

    fn buf_resize(&mut self, new_len: usize, value: u8) {
        self.0.resize(new_len, value)
    }

    fn buf_extend_from_slice(&mut self, src: &[u8]) {
        if self.0.capacity() - self.0.len() < src.len() {
            // The first merge makes room for a whole merged packet: growing
            // step by step would copy the packet again at every doubling.
            self.0
                .reserve(self.buf_capacity().saturating_sub(self.0.len()));
        }
        self.0.extend_from_slice(src)
    }
}

/// Buffers for [`Tun::recv_batch`]: the raw super-packet and the packets
/// it is split into, each placed at a fixed offset (room for a header the
/// caller writes in front).
pub struct RecvBatch {
    raw: Box<[u8]>,
    /// One slot per packet: `offset` + the MTU.
    bufs: Vec<Box<[u8]>>,
    sizes: Vec<usize>,
    offset: usize,
}

impl RecvBatch {
    /// Buffers for packets of up to `mtu` bytes, each after `offset`
    /// bytes of room.
    pub fn new(mtu: u16, offset: usize) -> Self {
        let slot = offset + usize::from(mtu);
        RecvBatch {
            raw: vec![0; SUPER_PACKET].into_boxed_slice(),
            bufs: (0..BATCH)
                .map(|_| vec![0; slot].into_boxed_slice())
                .collect(),
            sizes: vec![0; BATCH],
            offset,
        }
    }

    /// Packet `i` of the last read, with its room in front.
    pub fn packet(&mut self, i: usize) -> &mut [u8] {
        &mut self.bufs[i][..self.offset + self.sizes[i]]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mtu_fits_a_datagram() {
        assert_eq!(tun_mtu(1500), 1405);
        // The packet plus our header fits 1472 bytes of UDP payload
        // with QUIC's worst-case overhead.
        assert!(tun_mtu(1500) + 10 + 32 <= 1472);
    }

    /// The first merge into a packet-sized buffer makes room for a whole
    /// merged packet at once, so later merges append without moving it.
    #[test]
    fn gro_merges_grow_the_buffer_once() {
        use tun_rs::ExpandBuffer;
        let mut b = GroBuf::new(&[1u8; 1400]);
        b.buf_extend_from_slice(&[2u8; 1360]);
        let grown = b.capacity();
        assert!(grown >= b.buf_capacity(), "{grown}");
        let start = b.as_ref().as_ptr();
        for _ in 0..40 {
            b.buf_extend_from_slice(&[3u8; 1360]);
        }
        assert_eq!((b.capacity(), b.as_ref().as_ptr()), (grown, start));
        assert_eq!(b.as_ref().len(), HEADROOM + 1400 + 41 * 1360);
        assert_eq!(b.as_ref()[HEADROOM + 1400], 2);
    }

    #[test]
    fn interface_names_are_checked() {
        assert!(check_name("avpn-123456789012").is_err());
        assert!(check_name("").is_err());
        assert!(check_name("avpn0").is_ok());
    }
}
