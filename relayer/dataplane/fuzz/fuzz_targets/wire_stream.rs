//! Stream headers and replies from a peer: decoding never panics and
//! round-trips.
#![no_main]

use avpn_dataplane::wire::{STREAM_REPLY_LEN, StreamHeader, StreamStatus};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(h) = StreamHeader::decode(data) {
        let n = StreamHeader::encoded_len(data);
        assert_eq!(&h.encode()[..], &data[..n]);
    }
    if let Ok(s) = StreamStatus::decode(data) {
        assert_eq!(&s.encode()[..], &data[..STREAM_REPLY_LEN]);
    }
});
