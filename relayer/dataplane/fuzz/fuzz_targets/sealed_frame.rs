//! Sealed datagrams ([`avpn_dataplane::sealed`]): opening any bytes never
//! panics, and only a frame the channel's other half sealed opens, once.
//! The other half seals a few frames at start; the seeds are such frames
//! (from the same fixed secret), and the fuzzer mutates them.
#![no_main]

use std::collections::HashSet;
use std::sync::{LazyLock, Mutex};

use avpn_dataplane::sealed::{self, Opener};
use libfuzzer_sys::fuzz_target;

/// Secret of the seeds' channel (`corpus/sealed_frame`).
const SECRET: [u8; 32] = [0x5e; 32];

struct Channel {
    opener: Opener,
    sealed: HashSet<Vec<u8>>,
    opened: Mutex<HashSet<Vec<u8>>>,
}

static CHANNEL: LazyLock<Channel> = LazyLock::new(|| {
    let (sealer, _) = sealed::from_secret(&SECRET, true);
    let (_, opener) = sealed::from_secret(&SECRET, false);
    let sealed = (0..4u8)
        .map(|i| {
            let mut f = Vec::new();
            assert!(sealer.seal_into(&mut f, &vec![i; 20 * i as usize]));
            f
        })
        .collect();
    Channel {
        opener,
        sealed,
        opened: Mutex::new(HashSet::new()),
    }
});

fuzz_target!(|data: &[u8]| {
    let c = &*CHANNEL;
    let mut frame = data.to_vec();
    if let Ok(packet) = c.opener.open(&mut frame) {
        assert!(c.sealed.contains(data), "a forged frame opened");
        // The seeds' packets: `i` repeated 20 × `i` times.
        let i = packet.len() / 20;
        assert!(
            packet.iter().all(|b| usize::from(*b) == i),
            "wrong plaintext"
        );
        assert!(
            c.opened.lock().unwrap().insert(data.to_vec()),
            "a frame opened twice"
        );
    }
});
