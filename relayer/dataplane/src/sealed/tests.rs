use super::*;

fn pair(secret: u8) -> ((Sealer, Opener), (Sealer, Opener)) {
    (
        from_secret(&[secret; 32], true),
        from_secret(&[secret; 32], false),
    )
}

fn seal(s: &Sealer, packet: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    assert!(s.seal_into(&mut out, packet));
    out
}

#[test]
fn each_side_opens_what_the_other_sealed() {
    let ((low_tx, low_rx), (high_tx, high_rx)) = pair(1);
    for (tx, rx) in [(&low_tx, &high_rx), (&high_tx, &low_rx)] {
        let mut a = seal(tx, b"first packet");
        let mut b = seal(tx, &[7u8; 1400]);
        assert_eq!(a.len(), 12 + OVERHEAD);
        assert_eq!(a[0], SEALED);
        assert_eq!(&a[1..9], &rx.id().to_be_bytes());
        assert_ne!(&a[SEALED_HEADER_LEN..a.len() - TAG_LEN], b"first packet");
        assert_eq!(rx.open(&mut b).unwrap(), &[7u8; 1400]);
        assert_eq!(rx.open(&mut a).unwrap(), b"first packet");
    }
    assert_ne!(low_rx.id(), high_rx.id());
}

/// Whatever a forger changes, the frame is refused and nothing is
/// counted: the genuine frame still opens afterwards.
#[test]
fn a_changed_byte_anywhere_is_refused_without_effect() {
    let ((tx, _), (_, rx)) = pair(2);
    let frame = seal(&tx, b"payload to protect");
    for i in 0..frame.len() {
        let mut bad = frame.clone();
        bad[i] ^= 0x01;
        let err = rx.open(&mut bad).unwrap_err();
        assert!(
            matches!(
                err,
                OpenError::Forged | OpenError::Malformed | OpenError::Epoch
            ),
            "byte {i}: {err:?}"
        );
    }
    assert_eq!(rx.open(&mut frame.clone()).unwrap(), b"payload to protect");
    assert_eq!(rx.open(&mut frame.clone()), Err(OpenError::Replayed));
}

#[test]
fn frames_of_another_channel_or_our_own_do_not_open() {
    let ((tx, own_rx), (_, rx)) = pair(3);
    let ((other_tx, _), _) = pair(4);
    let mut foreign = seal(&other_tx, b"x");
    // Give it our receiver id: the key still differs.
    foreign[1..9].copy_from_slice(&rx.id().to_be_bytes());
    assert_eq!(rx.open(&mut foreign), Err(OpenError::Forged));
    // Our own frame reflected back at us.
    let mut reflected = seal(&tx, b"y");
    reflected[1..9].copy_from_slice(&own_rx.id().to_be_bytes());
    assert_eq!(own_rx.open(&mut reflected), Err(OpenError::Forged));
    assert_eq!(
        rx.open(&mut [SEALED; OVERHEAD - 1]),
        Err(OpenError::Malformed)
    );
}

/// Keys change every epoch; frames on both sides of the boundary open,
/// one in order of arrival; a counter epochs ahead is refused unopened.
#[test]
fn keys_roll_over_at_each_epoch() {
    let ((tx, _), (_, rx)) = pair(5);
    tx.counter.store(EPOCH_PACKETS - 2, Ordering::Relaxed);
    let frames: Vec<Vec<u8>> = (0..4u8).map(|i| seal(&tx, &[i; 40])).collect();
    let first_key = rx.rx.lock().unwrap().keys.len();
    assert_eq!(first_key, 0);
    for (i, mut f) in frames.iter().cloned().enumerate().rev() {
        assert_eq!(rx.open(&mut f).unwrap(), &[i as u8; 40]);
    }
    // The two epochs' keys differ: a frame of epoch 1 under epoch 0's
    // counter does not open.
    let mut moved = frames[3].clone();
    moved[9..17].copy_from_slice(&(EPOCH_PACKETS - 3).to_be_bytes());
    assert_eq!(rx.open(&mut moved), Err(OpenError::Forged));
    let mut far = frames[3].clone();
    far[9..17].copy_from_slice(&(5 * EPOCH_PACKETS).to_be_bytes());
    assert_eq!(rx.open(&mut far), Err(OpenError::Epoch));
    assert!(rx.rx.lock().unwrap().keys.len() <= 3);
}

#[test]
fn counters_run_out_instead_of_repeating() {
    let ((tx, _), _) = pair(7);
    tx.counter.store(MAX_COUNTER, Ordering::Relaxed);
    assert!(!tx.seal_into(&mut Vec::new(), b"late"));
}
