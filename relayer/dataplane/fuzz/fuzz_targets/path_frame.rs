//! Datagrams on the relayer's UDP socket (relay frames, probes, sealed
//! datagrams, QUIC): classifying never panics, a relay frame's payload
//! is exactly what follows its header, and its header re-encodes to the
//! same bytes.
#![no_main]

use avpn_dataplane::paths::frame::{self, Frame, PROBE_LEN, RELAY_HEADER_LEN};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match frame::parse(data) {
        Ok(Frame::ToRelay {
            token,
            dst,
            payload,
        }) => {
            assert_eq!(payload, &data[RELAY_HEADER_LEN..]);
            assert_eq!(frame::to_relay(token, dst), data[..RELAY_HEADER_LEN]);
        }
        Ok(Frame::FromRelay {
            token,
            src,
            payload,
        }) => {
            assert_eq!(payload, &data[RELAY_HEADER_LEN..]);
            assert_eq!(frame::from_relay(token, src), data[..RELAY_HEADER_LEN]);
        }
        Ok(Frame::Probe(n)) => assert_eq!(frame::probe(n), data[..PROBE_LEN]),
        Ok(Frame::ProbeReply(n)) => assert_eq!(frame::probe_reply(n), data[..PROBE_LEN]),
        Ok(Frame::Quic) => assert!(data[0] & 0x40 != 0),
        Ok(Frame::Sealed { receiver }) => {
            assert_eq!(data[0], frame::SEALED);
            assert_eq!(receiver.to_be_bytes(), data[1..9]);
        }
        Err(_) => {}
    }
});
