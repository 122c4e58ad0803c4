//! A batch of packets the data plane writes to an offload TUN device,
//! coalesced by tun-rs's GRO (`handle_gro`, and `GROTable::apply_gro` as
//! the device's `send_multiple` calls it) with `VIRTIO_NET_HDR_LEN` bytes of
//! headroom in each buffer.
//!
//! Packets are mostly built from a few fuzzer bytes as valid TCP/UDP over
//! IPv4/IPv6 of up to four flows (sequence numbers that follow, precede or
//! repeat each other, PSH, TCP options, lengths up to 9000 bytes, valid
//! checksums) with an optional flipped byte, and sometimes raw bytes, so
//! that coalescing really happens. Buffers are the data plane's `GroBuf`s
//! (unguarded: vectors of exact, 64 KiB plus headroom, or more capacity).
//!
//! Never panics. A reused `GROTable` gives the same buffers and result as
//! fresh tables. When it succeeds, the packets to write are distinct
//! indices into the batch, each buffer holds a packet after the headroom,
//! preceded by a virtio-net header that is either empty or a GSO header
//! the kernel accepts (type matching the packet, `gso_size` > 0, checksum
//! field inside the transport header holding the pseudo-header sum) on a
//! packet whose IP length field equals its size; and splitting every GSO
//! packet again (`gso_split`, as the kernel does) gives back exactly the
//! packets of the batch (same lengths, same payloads): nothing lost,
//! duplicated, or altered.
//!
//! tun-rs 2.8.16 coalesces as long as the buffer's capacity allows, with
//! no 64 KiB cap: with buffers of more than `2 * VIRTIO_NET_HDR_LEN + 65535`
//! bytes of capacity a flow is merged into an IP packet longer than its
//! length field can say (the field is truncated; when the truncated length
//! is below the IP header length, `apply_*_coalesce_accounting` panics on a
//! u16 subtraction where overflow checks are on). The data plane must not
//! report more capacity than that, and this target checks GRO through the
//! data plane's guard (`avpn_dataplane::tun::GroBuf`, whose reported
//! capacity is that limit); `AVPN_FUZZ_GRO_UNGUARDED=1` drops the
//! guard to show the failure (reproducers in regressions/gro/).
#![no_main]

#[path = "util.rs"]
mod util;

use std::cell::RefCell;
use std::sync::OnceLock;

use avpn_dataplane::tun::GroBuf;
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use tun_rs::{ExpandBuffer, GROTable, VIRTIO_NET_HDR_LEN, VirtioNetHdr, gso_split, handle_gro};
use util::*;

const OFFSET: usize = VIRTIO_NET_HDR_LEN;
const MAX_PACKETS: usize = 64;
const MAX_PAYLOAD: usize = 9000;

/// A write buffer: the data plane's own [`GroBuf`] (whose reported
/// capacity is the guard), or, with `AVPN_FUZZ_GRO_UNGUARDED=1`, a plain
/// vector reporting its real capacity, to show what the guard prevents.
enum Buf {
    Guarded(GroBuf),
    Unguarded(Vec<u8>),
}

impl PartialEq for Buf {
    fn eq(&self, other: &Self) -> bool {
        self.as_ref() == other.as_ref()
    }
}

impl AsRef<[u8]> for Buf {
    fn as_ref(&self) -> &[u8] {
        match self {
            Buf::Guarded(b) => b.as_ref(),
            Buf::Unguarded(v) => v,
        }
    }
}

impl AsMut<[u8]> for Buf {
    fn as_mut(&mut self) -> &mut [u8] {
        match self {
            Buf::Guarded(b) => b.as_mut(),
            Buf::Unguarded(v) => v,
        }
    }
}

impl ExpandBuffer for Buf {
    fn buf_capacity(&self) -> usize {
        match self {
            Buf::Guarded(b) => b.buf_capacity(),
            Buf::Unguarded(v) => v.capacity(),
        }
    }
    fn buf_resize(&mut self, new_len: usize, value: u8) {
        match self {
            Buf::Guarded(b) => b.buf_resize(new_len, value),
            Buf::Unguarded(v) => v.resize(new_len, value),
        }
    }
    fn buf_extend_from_slice(&mut self, src: &[u8]) {
        match self {
            Buf::Guarded(b) => b.buf_extend_from_slice(src),
            Buf::Unguarded(v) => v.extend_from_slice(src),
        }
    }
}

fn unguarded() -> bool {
    static UNGUARDED: OnceLock<bool> = OnceLock::new();
    *UNGUARDED.get_or_init(|| std::env::var("AVPN_FUZZ_GRO_UNGUARDED").is_ok_and(|v| v == "1"))
}

thread_local! {
    static TABLE: RefCell<GROTable> = RefCell::new(GROTable::new());
}

#[derive(Default, Clone, Copy)]
struct Flow {
    next_seq: u32,
    first_seq: u32,
    ip_id: u16,
}

fn tcp_opts(flow: usize) -> usize {
    if flow & 1 == 1 { 12 } else { 0 }
}

fn packet(u: &mut Unstructured, flows: &mut [Flow; 4]) -> Result<Vec<u8>> {
    let b: u8 = u.arbitrary()?;
    if b & 0xe0 == 0xe0 {
        let len = u.int_in_range(0..=128)?;
        return Ok(u.bytes(len)?.to_vec());
    }
    let v6 = b & 1 != 0;
    let udp = b & 2 != 0;
    let fi = usize::from((b >> 2) & 3);
    let psh = b & 0x10 != 0;
    let seq_mode = (b >> 5) & 3;
    let payload_len = if u.arbitrary::<bool>()? {
        u.int_in_range(0..=MAX_PAYLOAD)?
    } else {
        u.int_in_range(0..=64)?
    };
    let seed: u8 = u.arbitrary()?;
    let flow = &mut flows[fi];
    let seq = match seq_mode {
        0 => {
            let s = flow.next_seq;
            flow.next_seq = s.wrapping_add(payload_len as u32);
            s
        }
        1 => {
            flow.first_seq = flow.first_seq.wrapping_sub(payload_len as u32);
            flow.first_seq
        }
        2 => flow.next_seq,
        _ => u.arbitrary()?,
    };
    flow.ip_id = flow.ip_id.wrapping_add(1);

    let iph = if v6 { 40 } else { 20 };
    let th = if udp { 8 } else { 20 + tcp_opts(fi) };
    let len = iph + th + payload_len;
    let mut p = vec![0u8; len];
    let port = 1000 + fi as u16;
    if v6 {
        p[0] = 0x60;
        put16(&mut p, 4, (len - 40) as u16);
        p[6] = if udp { UDP } else { TCP };
        p[7] = 64;
        p[8] = 0xfd;
        p[23] = 1 + fi as u8;
        p[24] = 0xfd;
        p[39] = 100;
    } else {
        p[0] = 0x45;
        put16(&mut p, 2, len as u16);
        put16(&mut p, 4, flow.ip_id);
        p[6] = 0x40; // DF
        p[8] = 64;
        p[9] = if udp { UDP } else { TCP };
        p[12..16].copy_from_slice(&[10, 0, 0, 1 + fi as u8]);
        p[16..20].copy_from_slice(&[10, 0, 1, 100]);
        let c = csum(&p[..20], 0);
        put16(&mut p, 10, c);
    }
    put16(&mut p, iph, port);
    put16(&mut p, iph + 2, 443);
    if udp {
        put16(&mut p, iph + 4, (th + payload_len) as u16);
    } else {
        p[iph + 4..iph + 8].copy_from_slice(&seq.to_be_bytes());
        p[iph + 12] = ((th / 4) as u8) << 4;
        p[iph + 13] = if psh { 0x18 } else { 0x10 };
        put16(&mut p, iph + 14, 512);
        for (k, o) in p[iph + 20..iph + th].iter_mut().enumerate() {
            *o = if k < 2 { 1 } else { fi as u8 ^ k as u8 };
        }
    }
    for (j, o) in p[iph + th..].iter_mut().enumerate() {
        *o = seed ^ j as u8 ^ (j >> 8) as u8;
    }
    let proto = if udp { UDP } else { TCP };
    let c = csum(&p[iph..], pseudo(&p, v6, proto, (th + payload_len) as u16));
    put16(&mut p, iph + if udp { 6 } else { 16 }, c);
    if u.arbitrary::<u8>()? < 16 {
        let at = u.int_in_range(0..=len - 1)?;
        let x: u8 = u.arbitrary()?;
        p[at] ^= x;
    }
    Ok(p)
}

struct Batch {
    packets: Vec<Vec<u8>>,
    can_udp_gro: bool,
    /// Capacity of every buffer beyond the headroom; `None`: just the packet.
    capacity: Option<usize>,
}

fn batch(data: &[u8]) -> Result<Batch> {
    let mut u = Unstructured::new(data);
    let can_udp_gro: bool = u.arbitrary()?;
    let capacity = match u.int_in_range(0..=3)? {
        0 => None,
        1 | 2 => Some(OFFSET + 65535),
        _ => Some(OFFSET + 65535 + 2 * MAX_PAYLOAD),
    };
    let mut flows = [Flow::default(); 4];
    for (i, f) in flows.iter_mut().enumerate() {
        let s: u32 = if u.arbitrary()? {
            u.arbitrary()?
        } else {
            u32::MAX - 100 * i as u32
        };
        *f = Flow {
            next_seq: s,
            first_seq: s,
            ip_id: u.arbitrary()?,
        };
    }
    let mut packets = Vec::new();
    while packets.len() < MAX_PACKETS && !u.is_empty() {
        packets.push(packet(&mut u, &mut flows)?);
    }
    Ok(Batch {
        packets,
        can_udp_gro,
        capacity,
    })
}

fn buffers(b: &Batch) -> Vec<Buf> {
    b.packets
        .iter()
        .map(|p| {
            if !unguarded() {
                return Buf::Guarded(GroBuf::new(p));
            }
            let cap = OFFSET + b.capacity.unwrap_or(p.len());
            let mut v = Vec::with_capacity(cap);
            v.resize(OFFSET, 0xee);
            v.extend_from_slice(p);
            Buf::Unguarded(v)
        })
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let Ok(b) = batch(data) else { return };
    if b.packets.is_empty() {
        return;
    }
    let mut bufs = buffers(&b);
    let mut to_write = Vec::new();
    let fresh = handle_gro(
        &mut bufs,
        OFFSET,
        &mut Default::default(),
        &mut Default::default(),
        b.can_udp_gro,
        &mut to_write,
    );

    let mut again = buffers(&b);
    let reused = TABLE.with(|t| t.borrow_mut().apply_gro(&mut again, OFFSET, b.can_udp_gro));
    assert_eq!(
        fresh.is_ok(),
        reused.is_ok(),
        "GROTable::apply_gro and handle_gro disagree"
    );
    assert!(
        bufs == again,
        "GROTable::apply_gro and handle_gro left different buffers"
    );
    if fresh.is_err() {
        return;
    }

    assert!(
        to_write.windows(2).all(|w| w[0] < w[1]),
        "to_write not distinct ascending: {to_write:?}"
    );
    let mut outputs: Vec<Vec<u8>> = Vec::new();
    for &i in &to_write {
        assert!(
            i < bufs.len(),
            "to_write index {i} past {} buffers",
            bufs.len()
        );
        let buf = bufs[i].as_ref();
        assert!(buf.len() > OFFSET, "packet {i} to write is empty");
        let hdr = VirtioNetHdr::decode(&buf[..OFFSET]).unwrap();
        let pkt = &buf[OFFSET..];
        if hdr.gso_type == 0 {
            assert_eq!(
                (
                    hdr.flags,
                    hdr.hdr_len,
                    hdr.gso_size,
                    hdr.csum_start,
                    hdr.csum_offset
                ),
                (0, 0, 0, 0, 0),
                "packet {i}: header without GSO is not empty"
            );
            outputs.push(pkt.to_vec());
            continue;
        }
        outputs.extend(check_gso(i, hdr, pkt));
    }

    let key = |p: &Vec<u8>| match l4_headers(p) {
        Some((_, _, _, hl)) => (p.len(), p[hl..].to_vec()),
        None => (p.len(), p.clone()),
    };
    let mut want: Vec<_> = b.packets.iter().map(key).collect();
    let mut got: Vec<_> = outputs.iter().map(key).collect();
    want.sort();
    got.sort();
    assert_eq!(
        got.len(),
        want.len(),
        "GRO then GSO gives {} packets for {}",
        got.len(),
        want.len()
    );
    assert!(
        got == want,
        "GRO then GSO does not give back the batch's packets"
    );
});

/// A coalesced packet: its header is one the kernel accepts, and the
/// segments the kernel would cut from it.
fn check_gso(i: usize, hdr: VirtioNetHdr, pkt: &[u8]) -> Vec<Vec<u8>> {
    let is_v6 = pkt[0] >> 4 == 6;
    let (gso_type, proto, csum_offset) = match hdr.gso_type {
        1 => (1, TCP, 16),
        4 => (4, TCP, 16),
        _ => (5, UDP, 6),
    };
    assert_eq!(
        hdr.gso_type, gso_type,
        "packet {i}: GSO type {}",
        hdr.gso_type
    );
    assert_eq!(
        gso_type == 4,
        is_v6 && proto == TCP,
        "packet {i}: TCP GSO type does not match IP version"
    );
    assert_eq!(hdr.flags, 1, "packet {i}: GSO without NEEDS_CSUM");
    assert!(hdr.gso_size > 0);
    let iph = if is_v6 { 40 } else { 20 };
    assert_eq!(usize::from(hdr.csum_start), iph, "packet {i}: csum_start");
    assert_eq!(hdr.csum_offset, csum_offset, "packet {i}: csum_offset");
    let hl = usize::from(hdr.hdr_len);
    assert!(
        hl >= iph + usize::from(csum_offset) + 2 && hl < pkt.len(),
        "packet {i}: hdr_len {hl} of {}",
        pkt.len()
    );
    let ip_len = if is_v6 { pkt.len() - 40 } else { pkt.len() };
    assert!(
        ip_len <= 65535,
        "packet {i}: coalesced to {} bytes, more than an IP length field holds",
        pkt.len()
    );
    let field = usize::from(if is_v6 { be16(pkt, 4) } else { be16(pkt, 2) });
    assert_eq!(field, ip_len, "packet {i}: IP length field");
    if !is_v6 {
        assert!(verifies(&pkt[..20], 0), "packet {i}: IPv4 header checksum");
    }
    let l4_len = (pkt.len() - iph) as u16;
    let partial = fold(pseudo(pkt, is_v6, proto, l4_len));
    assert_eq!(
        be16(pkt, iph + usize::from(csum_offset)),
        partial,
        "packet {i}: partial checksum"
    );

    let gso = usize::from(hdr.gso_size);
    let n = (pkt.len() - hl).div_ceil(gso);
    let mut out = vec![vec![0u8; hl + gso]; n];
    let mut sizes = vec![0; n];
    let mut input = pkt.to_vec();
    let got = gso_split(&mut input, hdr, &mut out, &mut sizes, 0, is_v6)
        .unwrap_or_else(|e| panic!("packet {i}: gso_split refuses GRO's packet: {e}"));
    assert_eq!(got, n);
    out.iter_mut()
        .zip(&sizes)
        .map(|(b, &s)| b[..s].to_vec())
        .collect()
}
