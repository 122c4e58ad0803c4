//! The virtio-net header the kernel puts before every packet of an offload
//! TUN device: `VirtioNetHdr::decode` never panics, fails exactly on
//! buffers shorter than the header, reads the fields where the kernel's
//! `struct virtio_net_hdr` has them (native byte order, as TUN uses on a
//! little-endian host), and `encode` writes back the same bytes, touching
//! nothing past the header and nothing at all when the buffer is too short.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tun_rs::{VIRTIO_NET_HDR_LEN, VirtioNetHdr};

fuzz_target!(|data: &[u8]| {
    // struct virtio_net_hdr: u8 flags, u8 gso_type, u16 hdr_len, gso_size,
    // csum_start, csum_offset; 10 bytes (no num_buffers on TUN).
    assert_eq!(VIRTIO_NET_HDR_LEN, 10);
    let hdr = match VirtioNetHdr::decode(data) {
        Ok(hdr) => hdr,
        Err(_) => {
            assert!(
                data.len() < VIRTIO_NET_HDR_LEN,
                "decode refused {} bytes",
                data.len()
            );
            // Encoding into a short buffer fails and leaves it as it was.
            let mut short = data.to_vec();
            assert!(VirtioNetHdr::default().encode(&mut short).is_err());
            assert_eq!(short, data);
            return;
        }
    };
    let u16_at = |i: usize| u16::from_ne_bytes([data[i], data[i + 1]]);
    assert_eq!(hdr.flags, data[0]);
    assert_eq!(hdr.gso_type, data[1]);
    assert_eq!(hdr.hdr_len, u16_at(2));
    assert_eq!(hdr.gso_size, u16_at(4));
    assert_eq!(hdr.csum_start, u16_at(6));
    assert_eq!(hdr.csum_offset, u16_at(8));

    // Round trip into a buffer as long as the input, pre-filled with its
    // complement: the header bytes come back, the rest is untouched.
    let mut out: Vec<u8> = data.iter().map(|b| !b).collect();
    hdr.encode(&mut out)
        .expect("encode into a long enough buffer");
    assert_eq!(out[..VIRTIO_NET_HDR_LEN], data[..VIRTIO_NET_HDR_LEN]);
    assert!(
        out[VIRTIO_NET_HDR_LEN..]
            .iter()
            .zip(&data[VIRTIO_NET_HDR_LEN..])
            .all(|(o, d)| *o == !d)
    );
    let again = VirtioNetHdr::decode(&out).expect("decode what encode wrote");
    assert_eq!(
        (
            again.flags,
            again.gso_type,
            again.hdr_len,
            again.gso_size,
            again.csum_start,
            again.csum_offset
        ),
        (
            hdr.flags,
            hdr.gso_type,
            hdr.hdr_len,
            hdr.gso_size,
            hdr.csum_start,
            hdr.csum_offset
        )
    );
});
