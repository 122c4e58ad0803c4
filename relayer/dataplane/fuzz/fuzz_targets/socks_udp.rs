//! SOCKS5 UDP datagram headers from a client: decoding never panics,
//! consumes no more than it was given (nor more than the longest header),
//! and what decodes re-encodes to the same bytes.
#![no_main]

use avpn_dataplane::socks::{UDP_HEADER_MAX, UdpHeader};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok((h, n)) = UdpHeader::decode(data) {
        assert!(n <= data.len() && n <= UDP_HEADER_MAX);
        assert_eq!(h.encode(), &data[..n]);
    }
});
