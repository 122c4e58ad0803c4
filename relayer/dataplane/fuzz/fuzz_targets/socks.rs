//! SOCKS5 messages from a client: decoding never panics, consumes no
//! more than it was given, and round-trips.
#![no_main]

use avpn_dataplane::socks::{Greeting, Request};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok((g, n)) = Greeting::decode(data) {
        assert!(n <= data.len());
        assert_eq!(g.encode(), &data[..n]);
    }
    if let Ok((r, n)) = Request::decode(data) {
        assert!(n <= data.len());
        assert_eq!(r.encode(), &data[..n]);
    }
});
