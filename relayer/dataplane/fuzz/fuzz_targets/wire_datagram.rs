//! Datagram frames from a peer: decoding never panics and re-encoding a
//! decoded frame gives back the same bytes.
#![no_main]

use avpn_dataplane::wire;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok((network, packet)) = wire::decode_datagram(data) {
        assert_eq!(wire::encode_datagram(network, packet), data);
    }
});
