//! A GSO packet read from an offload TUN device (virtio-net header + one
//! large TCP or UDP packet) split into MTU-sized segments by
//! `tun_rs::gso_split`, with output buffers of bounded number and size.
//!
//! Never panics. When it fails, the input and every output buffer are left
//! as they were (the framed reader relies on this to retry with more
//! buffers). When it succeeds: the segment count is the payload length
//! divided by `gso_size` rounded up; each segment fits its buffer after
//! the offset and writes nothing outside `offset..offset + size`; the
//! segments' payloads, in order, are the input's payload; each segment
//! keeps the input's headers except the fields GSO must rewrite, and those
//! are right: IPv4 total length = segment size, IPv4 ID + i, IPv4 header
//! checksum, IPv6 payload length = size - 40, TCP sequence number + i *
//! gso_size, CWR only on the first and FIN/PSH only on the last segment,
//! UDP length, and a TCP/UDP checksum that verifies over the pseudo-header.
//!
//! Half the inputs go through the same checks the device's read path
//! (`handle_virtio_read`) makes before it calls `gso_split` (IP version from
//! the first byte, header length from the TCP data offset); the other half
//! call `gso_split` with whatever header the fuzzer chose.
#![no_main]

#[path = "util.rs"]
mod util;

use std::cell::RefCell;

use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use tun_rs::{VIRTIO_NET_HDR_GSO_UDP_L4, VIRTIO_NET_HDR_LEN, VirtioNetHdr, gso_split};
use util::*;

const MAX_BUFS: usize = 64;
const MAX_BUF_LEN: usize = 9216;
const CANARY: u8 = 0xa5;

thread_local! {
    static POOL: RefCell<Vec<Vec<u8>>> = RefCell::new(vec![vec![CANARY; MAX_BUF_LEN]; MAX_BUFS]);
}

struct Case {
    hdr: VirtioNetHdr,
    is_v6: bool,
    input: Vec<u8>,
    bufs: usize,
    buf_len: usize,
    offset: usize,
}

fn case(data: &[u8]) -> Result<Option<Case>> {
    let mut u = Unstructured::new(data);
    let device_path: bool = u.arbitrary()?;
    let raw_v6: bool = u.arbitrary()?;
    let hdr = VirtioNetHdr::decode(u.bytes(VIRTIO_NET_HDR_LEN)?).unwrap();
    let bufs = u.int_in_range(1..=MAX_BUFS)?;
    let buf_len = u.int_in_range(0..=MAX_BUF_LEN)?;
    let offset = u.int_in_range(0..=2 * VIRTIO_NET_HDR_LEN)?;
    // Bulk payload appended to the packet, so that 64 KiB GSO packets are
    // reachable from short inputs.
    let extra: u16 = u.arbitrary()?;
    let mut input = u.take_rest().to_vec();
    input.extend((0..extra).map(|i| (i as u8) ^ (i >> 8) as u8));
    if !device_path {
        return Ok(Some(Case {
            hdr,
            is_v6: raw_v6,
            input,
            bufs,
            buf_len,
            offset,
        }));
    }
    Ok(device_checks(hdr, &input).map(|(hdr, is_v6)| Case {
        hdr,
        is_v6,
        input,
        bufs,
        buf_len,
        offset,
    }))
}

/// What tun-rs's `handle_virtio_read` does to a GSO packet before it calls
/// `gso_split` (tun-rs 2.8.16, src/platform/linux/device.rs).
fn device_checks(mut hdr: VirtioNetHdr, input: &[u8]) -> Option<(VirtioNetHdr, bool)> {
    if hdr.gso_type == 0 || hdr.gso_size == 0 {
        return None;
    }
    let is_v6 = match input.first()? >> 4 {
        4 => false,
        6 => true,
        _ => return None,
    };
    let base = hdr.gso_type & 0x7f;
    let udp = match base {
        1 if !is_v6 => false,
        4 if is_v6 => false,
        5 if hdr.gso_type == base => true,
        _ => return None,
    };
    let cs = usize::from(hdr.csum_start);
    hdr.hdr_len = if udp {
        hdr.csum_start.checked_add(8)?
    } else {
        if input.len() <= cs + 12 {
            return None;
        }
        let th = u16::from(input[cs + 12] >> 4) * 4;
        if !(20..=60).contains(&th) {
            return None;
        }
        hdr.csum_start.checked_add(th)?
    };
    if input.len() < usize::from(hdr.hdr_len) || cs + usize::from(hdr.csum_offset) + 1 > input.len()
    {
        return None;
    }
    Some((hdr, is_v6))
}

fuzz_target!(|data: &[u8]| {
    let Ok(Some(c)) = case(data) else { return };
    POOL.with(|pool| check(c, &mut pool.borrow_mut()));
});

fn check(c: Case, pool: &mut [Vec<u8>]) {
    let Case {
        hdr,
        is_v6,
        input,
        bufs,
        buf_len,
        offset,
    } = c;
    for b in &mut pool[..bufs] {
        b[..buf_len].fill(CANARY);
    }
    let mut sizes = vec![usize::MAX; bufs];
    let mut work = input.clone();
    let result = {
        let mut out: Vec<&mut [u8]> = pool[..bufs].iter_mut().map(|b| &mut b[..buf_len]).collect();
        gso_split(&mut work, hdr, &mut out, &mut sizes, offset, is_v6)
    };
    assert!(work == input, "gso_split changed its input");
    let n = match result {
        Ok(n) => n,
        Err(_) => {
            for b in &pool[..bufs] {
                assert!(
                    b[..buf_len].iter().all(|&x| x == CANARY),
                    "failed gso_split wrote output"
                );
            }
            return;
        }
    };

    // Accepted: the header describes TCP or UDP over the IP version given.
    let proto = if hdr.gso_type == VIRTIO_NET_HDR_GSO_UDP_L4 {
        UDP
    } else {
        TCP
    };
    let hdr_len = usize::from(hdr.hdr_len);
    let cs = usize::from(hdr.csum_start);
    let csum_at = cs + usize::from(hdr.csum_offset);
    let gso = usize::from(hdr.gso_size);
    let payload = &input[hdr_len..];
    assert_eq!(n, payload.len().div_ceil(gso), "segment count");
    assert!(n <= bufs);
    let mut taken = 0;
    for (i, buf) in pool[..bufs].iter().enumerate() {
        let buf = &buf[..buf_len];
        if i >= n {
            assert!(
                buf.iter().all(|&x| x == CANARY),
                "buffer {i} past the segments was written"
            );
            continue;
        }
        let size = sizes[i];
        assert!(
            size <= buf_len.saturating_sub(offset),
            "segment {i} of {size} bytes exceeds its buffer"
        );
        assert!(
            buf[..offset].iter().all(|&x| x == CANARY),
            "segment {i} wrote before the offset"
        );
        assert!(
            buf[offset + size..].iter().all(|&x| x == CANARY),
            "segment {i} wrote past its size"
        );
        let seg = &buf[offset..offset + size];
        let data_len = gso.min(payload.len() - taken);
        assert_eq!(size, hdr_len + data_len, "segment {i} size");
        assert!(
            seg[hdr_len..] == payload[taken..taken + data_len],
            "segment {i} payload"
        );
        taken += data_len;
        let last = i + 1 == n;

        // IP header: the input's, with length (and for IPv4 ID and checksum) rewritten.
        let rewritten: &[usize] = if is_v6 {
            &[4, 5]
        } else {
            &[2, 3, 4, 5, 10, 11]
        };
        for k in 0..cs {
            if !rewritten.contains(&k) {
                assert_eq!(seg[k], input[k], "segment {i} IP header byte {k}");
            }
        }
        if is_v6 {
            assert_eq!(
                usize::from(be16(seg, 4)) + 40,
                size,
                "segment {i} IPv6 payload length"
            );
        } else {
            assert_eq!(
                usize::from(be16(seg, 2)),
                size,
                "segment {i} IPv4 total length"
            );
            assert_eq!(
                be16(seg, 4),
                be16(&input, 4).wrapping_add(i as u16),
                "segment {i} IPv4 ID"
            );
            assert!(verifies(&seg[..cs], 0), "segment {i} IPv4 header checksum");
        }

        // Transport header: the input's, with the fields GSO owns rewritten.
        let owned: &[usize] = if proto == TCP {
            &[4, 5, 6, 7, 13]
        } else {
            &[4, 5]
        };
        for k in cs..hdr_len {
            if !owned.contains(&(k - cs)) && k != csum_at && k != csum_at + 1 {
                assert_eq!(
                    seg[k],
                    input[k],
                    "segment {i} transport header byte {}",
                    k - cs
                );
            }
        }
        if proto == TCP {
            let seq = be32(&input, cs + 4).wrapping_add((gso * i) as u32);
            assert_eq!(be32(seg, cs + 4), seq, "segment {i} TCP sequence number");
            let mut flags = input[cs + 13];
            if i > 0 {
                flags &= !0x80; // CWR
            }
            if !last {
                flags &= !(0x01 | 0x08); // FIN, PSH
            }
            assert_eq!(seg[cs + 13], flags, "segment {i} TCP flags");
        } else {
            assert_eq!(
                usize::from(be16(seg, cs + 4)),
                size - cs,
                "segment {i} UDP length"
            );
        }
        let l4_len = (size - cs) as u16;
        assert!(
            verifies(&seg[cs..], pseudo(seg, is_v6, proto, l4_len)),
            "segment {i} transport checksum"
        );
    }
    assert_eq!(taken, payload.len());
}
