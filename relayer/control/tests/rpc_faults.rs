//! A tiny in-process fake CometBFT node answering garbage, another chain id
//! or contract errors, and an address nobody listens on: every case must end
//! in a clear typed error (or a counted retry), never a panic.

mod common;

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use avpn_control::lease::{self, LeaseVerdict, LeaseVerifier, Refusal, Verification};
use avpn_control::metrics::Metrics;
use avpn_control::query::{Querier, QueryError};
use avpn_control::rpc::{Endpoint, RpcError};
use avpn_control::watcher::{WatchConfig, watch};
use avpn_model::LeaseId;
use common::fake::{self, Answer, abci, fake_endpoint, fake_node, hex_decode};
use prost::Message;
use serde_json::{Value, json};

fn status(network: &str) -> Value {
    fake::status(network, 5)
}

fn endpoint(url: &str, chain: &str) -> Endpoint {
    fake_endpoint(url, chain)
}

#[tokio::test]
async fn garbage_and_wrong_chain_are_typed_errors() {
    let garbage = fake_node(Arc::new(|_, _| {
        Answer::Raw("<html>502 bad gateway</html>".into())
    }))
    .await;
    let ep = endpoint(&garbage.url, "avpn-localnet");
    let err = ep.check(&ep.http().unwrap()).await.unwrap_err();
    assert!(matches!(err, RpcError::Malformed { .. }), "{err}");

    let other = fake_node(Arc::new(|m, _| match m {
        "status" => Answer::Result(status("akashnet-2")),
        _ => Answer::Raw("{}".into()),
    }))
    .await;
    let ep = endpoint(&other.url, "avpn-localnet");
    let err = ep.check(&ep.http().unwrap()).await.unwrap_err();
    let RpcError::WrongChainId {
        expected, actual, ..
    } = &err
    else {
        panic!("{err}")
    };
    assert_eq!(
        (expected.as_str(), actual.as_str()),
        ("avpn-localnet", "akashnet-2")
    );
    assert!(err.to_string().contains("akashnet-2"));

    let ok = endpoint(&other.url, "akashnet-2");
    assert_eq!(ok.check(&ok.http().unwrap()).await.unwrap(), 5);

    assert!(matches!(
        Endpoint::new("ftp://x:1", "c", Duration::from_secs(1)),
        Err(RpcError::InvalidUrl { .. })
    ));
}

#[tokio::test]
async fn unreachable_node_fails_fast_with_its_url() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    drop(l);
    let ep = endpoint(&url, "c");
    let err = ep.check(&ep.http().unwrap()).await.unwrap_err();
    assert!(matches!(err, RpcError::Unreachable { .. }), "{err}");
    assert!(
        err.to_string().contains(&url.replace("http://", "")),
        "{err}"
    );
}

#[tokio::test]
async fn malformed_query_answers_are_typed_errors() {
    let node = fake_node(Arc::new(|_, params| {
        let data = params["data"].as_str().unwrap_or("");
        // The request's query JSON is inside the hex-encoded protobuf.
        let req = String::from_utf8_lossy(&hex_decode(data)).into_owned();
        if req.contains("garbage_proto") {
            Answer::Result(abci(0, "", &[0xff, 0xff, 0xff]))
        } else if req.contains("not_json") {
            let resp = cosmrs::proto::cosmwasm::wasm::v1::QuerySmartContractStateResponse {
                data: b"<<<".to_vec(),
            };
            Answer::Result(abci(0, "", &resp.encode_to_vec()))
        } else if req.contains("missing") {
            Answer::Result(abci(22, "no such contract: akash1missing", &[]))
        } else {
            Answer::Result(abci(
                5,
                "Generic error: boom: execute wasm contract failed",
                &[],
            ))
        }
    }))
    .await;
    let q = Querier::new(endpoint(&node.url, "c")).unwrap();
    let r = q
        .smart::<_, Value>("akash1c", &json!({"garbage_proto": {}}), None)
        .await;
    assert!(matches!(r, Err(QueryError::Protobuf { .. })), "{r:?}");
    let r = q
        .smart::<_, Value>("akash1c", &json!({"not_json": {}}), Some(4))
        .await;
    assert!(matches!(r, Err(QueryError::Json { .. })), "{r:?}");
    let r = q
        .smart::<_, Value>("akash1missing", &json!({"x": {}}), None)
        .await;
    assert!(
        matches!(r, Err(QueryError::UnknownContract(ref c)) if c == "akash1missing"),
        "{r:?}"
    );
    let r = q
        .smart::<_, Value>("akash1c", &json!({"other": {}}), None)
        .await;
    assert!(
        matches!(r, Err(QueryError::Rejected { code: 5, .. })),
        "{r:?}"
    );
}

/// Hand-written protobuf (no prost): a field key is `(tag << 3) | wire
/// type`, varints are little-endian base-128. Field numbers are Akash's
/// (chain SDK `proto/node/akash/market/v1/lease.proto`, `v1beta5/query.proto`).
mod pb {
    pub fn varint(mut v: u64, out: &mut Vec<u8>) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    /// Field `tag` with wire type 0 (varint).
    pub fn uint(tag: u32, v: u64, out: &mut Vec<u8>) {
        varint(u64::from(tag) << 3, out);
        varint(v, out);
    }

    /// Field `tag` with wire type 2 (length-delimited: strings, messages).
    pub fn bytes(tag: u32, b: &[u8], out: &mut Vec<u8>) {
        varint((u64::from(tag) << 3) | 2, out);
        varint(b.len() as u64, out);
        out.extend_from_slice(b);
    }

    /// `akash.market.v1.LeaseID`: owner 1, dseq 2, gseq 3, oseq 4, provider 5, bseq 6.
    pub fn lease_id(
        owner: &str,
        dseq: u64,
        gseq: u32,
        oseq: u32,
        provider: &str,
        bseq: u32,
    ) -> Vec<u8> {
        let mut o = Vec::new();
        bytes(1, owner.as_bytes(), &mut o);
        uint(2, dseq, &mut o);
        uint(3, gseq.into(), &mut o);
        uint(4, oseq.into(), &mut o);
        bytes(5, provider.as_bytes(), &mut o);
        uint(6, bseq.into(), &mut o);
        o
    }

    /// `akash.market.v1beta5.QueryLeaseResponse` around a `Lease` with id
    /// bytes `id` and `state`, carrying every field the relayer ignores:
    /// price (3, `cosmos.base.v1beta1.DecCoin`), created_at (4), closed_on
    /// (5), reason (6), reclamation (7), and the response's escrow_payment (2).
    pub fn lease_response(id: &[u8], state: u64) -> Vec<u8> {
        let mut price = Vec::new();
        bytes(1, b"uakt", &mut price);
        bytes(2, b"12.345000000000000000", &mut price);
        let mut window = Vec::new();
        uint(1, 3600, &mut window);
        let mut reclamation = Vec::new();
        bytes(1, &window, &mut reclamation);
        uint(2, 1_700_000_000, &mut reclamation);
        uint(3, 1_700_003_600, &mut reclamation);
        uint(4, 20_000, &mut reclamation);
        let mut lease = Vec::new();
        bytes(1, id, &mut lease);
        uint(2, state, &mut lease);
        bytes(3, &price, &mut lease);
        uint(4, 123_456, &mut lease);
        uint(5, 654_321, &mut lease);
        uint(6, 10_000, &mut lease);
        bytes(7, &reclamation, &mut lease);
        // escrow payment: id {aid {scope 2, xid "akash1o/9"}, xid "1/1/akash1p/0"}, state {owner, state 1, rate}
        let mut aid = Vec::new();
        uint(1, 2, &mut aid);
        bytes(2, b"akash1o/9", &mut aid);
        let mut pid = Vec::new();
        bytes(1, &aid, &mut pid);
        bytes(2, b"1/1/akash1p/0", &mut pid);
        let mut pstate = Vec::new();
        bytes(1, b"akash1o", &mut pstate);
        uint(2, 1, &mut pstate);
        bytes(3, &price, &mut pstate);
        let mut payment = Vec::new();
        bytes(1, &pid, &mut payment);
        bytes(2, &pstate, &mut payment);
        let mut resp = Vec::new();
        bytes(1, &lease, &mut resp);
        bytes(2, &payment, &mut resp);
        resp
    }

    /// A decoded field: varint or bytes.
    #[derive(Clone, Debug, PartialEq)]
    pub enum F {
        U(u64),
        B(Vec<u8>),
    }

    fn read_varint(b: &[u8], i: &mut usize) -> u64 {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = b[*i];
            *i += 1;
            v |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return v;
            }
        }
        panic!("varint too long")
    }

    /// Every field of a message, by tag (panics on other wire types).
    pub fn fields(b: &[u8]) -> Vec<(u32, F)> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < b.len() {
            let key = read_varint(b, &mut i);
            let tag = (key >> 3) as u32;
            match key & 7 {
                0 => out.push((tag, F::U(read_varint(b, &mut i)))),
                2 => {
                    let n = read_varint(b, &mut i) as usize;
                    out.push((tag, F::B(b[i..i + n].to_vec())));
                    i += n;
                }
                wt => panic!("unexpected wire type {wt} for field {tag}"),
            }
        }
        out
    }

    /// The `LeaseID` of a `QueryLeaseRequest` (field 1), read by hand:
    /// (owner, dseq, gseq, oseq, provider, bseq).
    pub fn request_id(b: &[u8]) -> (String, u64, u64, u64, String, u64) {
        let f = fields(b);
        assert_eq!(f.len(), 1, "request has one field, the id: {f:?}");
        let (1, F::B(id)) = &f[0] else {
            panic!("request field 1 must be the LeaseID message: {f:?}")
        };
        let mut r = (String::new(), 0, 0, 0, String::new(), 0);
        for (tag, v) in fields(id) {
            match (tag, v) {
                (1, F::B(s)) => r.0 = String::from_utf8(s).unwrap(),
                (2, F::U(v)) => r.1 = v,
                (3, F::U(v)) => r.2 = v,
                (4, F::U(v)) => r.3 = v,
                (5, F::B(s)) => r.4 = String::from_utf8(s).unwrap(),
                (6, F::U(v)) => r.5 = v,
                other => panic!("unexpected LeaseID field {other:?}"),
            }
        }
        r
    }
}

/// One `QueryLeaseResponse`, written byte by byte: lease
/// `akash1owner/9/1/1/akash1prov/2`, active, with price, created_at,
/// closed_on, reason, reclamation and escrow_payment (all ignored by the
/// relayer). Any wrong field number in the relayer's messages makes the
/// decoded id or state differ.
const LITERAL_RESPONSE: &[&[u8]] = &[
    &[0x0a, 0x41], // QueryLeaseResponse.lease (1, LEN) 65 bytes
    &[0x0a, 0x21], //   Lease.id (1, LEN) 33 bytes
    &[0x0a, 0x0b], //     LeaseID.owner (1, LEN) 11
    b"akash1owner",
    &[0x10, 0x09], //     LeaseID.dseq (2, VARINT) 9
    &[0x18, 0x01], //     LeaseID.gseq (3, VARINT) 1
    &[0x20, 0x01], //     LeaseID.oseq (4, VARINT) 1
    &[0x2a, 0x0a], //     LeaseID.provider (5, LEN) 10
    b"akash1prov",
    &[0x30, 0x02], //     LeaseID.bseq (6, VARINT) 2
    &[0x10, 0x01], //   Lease.state (2, VARINT) active
    &[0x1a, 0x0b], //   Lease.price (3, LEN) DecCoin 11 bytes
    &[0x0a, 0x04], //     DecCoin.denom (1, LEN) 4
    b"uakt",
    &[0x12, 0x03], //     DecCoin.amount (2, LEN) 3
    b"1.5",
    &[0x20, 0x64],             //   Lease.created_at (4, VARINT) 100
    &[0x28, 0x07],             //   Lease.closed_on (5, VARINT) 7
    &[0x30, 0x90, 0x4e],       //   Lease.reason (6, VARINT) 10000
    &[0x3a, 0x06],             //   Lease.reclamation (7, LEN) 6 bytes
    &[0x0a, 0x02, 0x08, 0x3c], //     window (1) Duration { seconds: 60 }
    &[0x10, 0x64],             //     started_at (2) 100
    &[0x12, 0x11],             // QueryLeaseResponse.escrow_payment (2, LEN) 17 bytes
    &[0x0a, 0x07],             //   Payment.id (1, LEN) 7
    &[0x0a, 0x02, 0x08, 0x02], // aid (1) { scope: bid }
    &[0x12, 0x01],             //     xid (2, LEN) 1
    b"1",
    &[0x12, 0x06], //   Payment.state (2, LEN) 6
    &[0x0a, 0x02], //     owner (1, LEN) 2
    b"o1",
    &[0x10, 0x01], //     state (2, VARINT) open
];

const OWNER: &str = "akash1owner";
const PROV: &str = "akash1prov";

/// How the fake market encodes its answers.
#[derive(Clone, Copy, Debug)]
enum Encoding {
    /// prost, from the relayer's own `lease::proto` types.
    Prost,
    /// The hand writer above, with every ignored field.
    Hand,
}

/// A fake market. By dseq of the lease asked for: 1 active; 2 answers
/// the lease of another owner; 3 closed; 4 insufficient funds; 5 not found;
/// 6 answers another bseq; 7 answers another provider; 8 undecodable;
/// 9 the literal response. Requests are decoded by hand and logged.
async fn market(
    encoding: Encoding,
) -> (
    fake::FakeNode,
    Arc<Mutex<Vec<(String, u64, u64, u64, String, u64)>>>,
) {
    let log: Arc<Mutex<Vec<_>>> = Default::default();
    let seen = log.clone();
    let node = fake_node(Arc::new(move |_, params| {
        assert_eq!(params["path"], lease::LEASE_PATH);
        let raw = hex_decode(params["data"].as_str().unwrap_or(""));
        let asked = pb::request_id(&raw);
        // the relayer's own decoding agrees with the hand decoding
        let typed = lease::proto::QueryLeaseRequest::decode(raw.as_slice())
            .unwrap()
            .id
            .unwrap();
        assert_eq!(
            (typed.owner.clone(), typed.dseq, u64::from(typed.bseq)),
            (asked.0.clone(), asked.1, asked.5)
        );
        seen.lock().unwrap().push(asked.clone());
        let (owner, dseq, gseq, oseq, provider, bseq) = asked;
        let (gseq, oseq, bseq) = (gseq as u32, oseq as u32, bseq as u32);
        let (owner, provider, bseq, state) = match dseq {
            1 => (owner, provider, bseq, 1),
            2 => ("akash1realowner".to_string(), provider, bseq, 1),
            3 => (owner, provider, bseq, 3),
            4 => (owner, provider, bseq, 2),
            5 => {
                return Answer::Result(abci(
                    5,
                    "rpc error: code = NotFound desc = lease not found",
                    &[],
                ));
            }
            6 => (owner, provider, bseq + 1, 1),
            7 => (owner, "akash1elsewhere".to_string(), bseq, 1),
            8 => return Answer::Result(abci(0, "", &[0x0a, 0xff, 0x01])),
            9 => return Answer::Result(abci(0, "", &LITERAL_RESPONSE.concat())),
            _ => unreachable!("unexpected dseq {dseq}"),
        };
        let bytes = match encoding {
            Encoding::Prost => lease::proto::QueryLeaseResponse {
                lease: Some(lease::proto::Lease {
                    id: Some(lease::proto::LeaseId {
                        owner,
                        dseq,
                        gseq,
                        oseq,
                        provider,
                        bseq,
                    }),
                    state,
                }),
            }
            .encode_to_vec(),
            Encoding::Hand => pb::lease_response(
                &pb::lease_id(&owner, dseq, gseq, oseq, &provider, bseq),
                state as u64,
            ),
        };
        Answer::Result(abci(0, "", &bytes))
    }))
    .await;
    (node, log)
}

fn lease_id(dseq: u64, bseq: u32) -> LeaseId {
    LeaseId {
        owner: OWNER.into(),
        dseq,
        gseq: 1,
        oseq: 1,
        provider: PROV.into(),
        bseq,
    }
}

#[tokio::test]
async fn lease_verification_decodes_real_market_answers() {
    assert_eq!(LITERAL_RESPONSE.concat().len(), 2 + 65 + 2 + 17);
    for encoding in [Encoding::Prost, Encoding::Hand] {
        let (node, log) = market(encoding).await;
        let v = Verification::Market(Box::new(Querier::new(endpoint(&node.url, "c")).unwrap()));
        let verdict = |dseq, bseq| {
            let v = &v;
            async move { v.verify(&lease_id(dseq, bseq), PROV).await.unwrap() }
        };
        let refused = |r| LeaseVerdict::Refused(r);
        assert_eq!(verdict(1, 0).await, LeaseVerdict::Verified, "{encoding:?}");
        let LeaseVerdict::Refused(Refusal::Mismatch(found)) = verdict(2, 0).await else {
            panic!("a lease of another owner must be refused ({encoding:?})")
        };
        assert!(found.starts_with("akash1realowner/2/1/1/"), "{found}");
        assert_eq!(verdict(3, 0).await, refused(Refusal::NotActive(3)));
        assert_eq!(verdict(4, 0).await, refused(Refusal::NotActive(2)));
        assert_eq!(verdict(5, 0).await, refused(Refusal::NotFound));
        let LeaseVerdict::Refused(Refusal::Mismatch(found)) = verdict(6, 4).await else {
            panic!("another bseq must be refused ({encoding:?})")
        };
        assert!(found.ends_with("/5"), "{found}");
        assert_eq!(
            verdict(7, 0).await,
            refused(Refusal::OtherProvider("akash1elsewhere".into()))
        );
        assert!(
            v.verify(&lease_id(8, 0), PROV).await.is_err(),
            "an undecodable answer is an error, not a verdict"
        );
        assert_eq!(verdict(9, 2).await, LeaseVerdict::Verified);
        // the literal lease has bseq 2: asked with bseq 0 it is another lease
        assert!(matches!(
            verdict(9, 0).await,
            LeaseVerdict::Refused(Refusal::Mismatch(_))
        ));

        // every query carried exactly the id asked for, owner and bseq included
        let sent = log.lock().unwrap().clone();
        let expected: Vec<_> = [
            (1, 0),
            (2, 0),
            (3, 0),
            (4, 0),
            (5, 0),
            (6, 4),
            (7, 0),
            (8, 0),
            (9, 2),
            (9, 0),
        ]
        .into_iter()
        .map(|(d, b)| (OWNER.to_string(), d, 1, 1, PROV.to_string(), b))
        .collect();
        assert_eq!(sent, expected);

        // a lease of another provider is refused without asking the market
        let elsewhere = LeaseId {
            provider: "akash1other".into(),
            ..lease_id(1, 0)
        };
        assert_eq!(
            v.verify(&elsewhere, PROV).await.unwrap(),
            refused(Refusal::OtherProvider("akash1other".into()))
        );
        assert_eq!(log.lock().unwrap().len(), expected.len());
    }
    assert_eq!(
        Verification::Off
            .verify(&lease_id(9, 0), PROV)
            .await
            .unwrap(),
        LeaseVerdict::Unchecked
    );
}

/// The hand writer and prost agree on the request and on the fields read
/// from the response (a check of the test's own encoder, so a wrong field
/// number on either side shows).
#[test]
fn hand_encoding_matches_the_relayer_messages() {
    let id = lease_id(42, 7);
    let req = lease::proto::QueryLeaseRequest {
        id: Some((&id).into()),
    };
    let mut hand = Vec::new();
    pb::bytes(1, &pb::lease_id(OWNER, 42, 1, 1, PROV, 7), &mut hand);
    assert_eq!(req.encode_to_vec(), hand);
    let resp = lease::proto::QueryLeaseResponse::decode(
        pb::lease_response(&pb::lease_id(OWNER, 42, 1, 1, PROV, 7), 2).as_slice(),
    )
    .unwrap();
    let lease = resp.lease.unwrap();
    assert_eq!(lease.id, req.id);
    assert_eq!(lease.state, lease::proto::STATE_INSUFFICIENT_FUNDS);
}

#[tokio::test]
async fn watcher_retries_with_backoff_and_stops_when_consumer_leaves() {
    let node = fake_node(Arc::new(|_, _| Answer::Raw("garbage".into()))).await;
    let metrics = Metrics::default();
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    let cfg = WatchConfig {
        endpoint: endpoint(&node.url, "c"),
        registry: "akash1reg".into(),
        directory: "akash1dir".into(),
        resync_every: Duration::from_secs(60),
        stall_timeout: Duration::from_secs(5),
        backoff_min: Duration::from_millis(10),
        backoff_max: Duration::from_millis(40),
    };
    let task = tokio::spawn(watch(cfg, tx, metrics.clone()));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while metrics.reconnects.get() < 4 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no reconnect attempts"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    drop(rx);
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("watcher must stop")
        .unwrap();
}

/// Counts changes; the data plane must see none while the chain is unreadable.
#[derive(Default)]
struct Counting(usize);

impl avpn_model::DataPlane for Counting {
    async fn apply(&mut self, _: avpn_model::Change) -> Result<(), avpn_model::DataPlaneError> {
        self.0 += 1;
        Ok(())
    }
}

#[tokio::test]
async fn controller_keeps_state_and_retries_while_the_chain_answers_garbage() {
    use avpn_control::controller::{Controller, ControllerConfig};
    use avpn_control::view::Source;
    use avpn_control::watcher::{ResyncReason, Trigger};

    let node = fake_node(Arc::new(|m, _| match m {
        "status" => Answer::Result(status("c")),
        _ => Answer::Raw("}{ not json".into()),
    }))
    .await;
    let querier = Querier::new(endpoint(&node.url, "c")).unwrap();
    let source = Source {
        querier,
        registry: "akash1reg".into(),
        directory: "akash1dir".into(),
        provider: "akash1p".into(),
    };
    let dp = Arc::new(tokio::sync::Mutex::new(Counting::default()));
    let metrics = Metrics::default();
    let cfg = ControllerConfig {
        attachments_dir: None,
        data_dir: None,
        attachments_poll: Duration::from_secs(60),
        retry_after: Duration::from_millis(20),
        consent: Default::default(),
    };
    let ctl = Controller::new(source, Verification::Off, dp.clone(), cfg, metrics.clone());
    let status = ctl.status();
    let applied = ctl.applied();
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    let task = tokio::spawn(ctl.run(rx));
    tx.send(Trigger::Resync(ResyncReason::Start)).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while metrics.sync_errors.get() < 3 {
        assert!(tokio::time::Instant::now() < deadline, "no retries");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(node.hits.load(Ordering::SeqCst) >= 6);
    let err = status
        .lock()
        .unwrap()
        .last_error
        .clone()
        .expect("error reported in status");
    assert!(err.contains("malformed"), "{err}");
    assert_eq!(dp.lock().await.0, 0);
    assert!(!applied.borrow().ready);
    // a partial trigger after a failure becomes a full re-read (nothing lost)
    let label = avpn_control::metrics::ResyncLabel {
        reason: "retry".into(),
    };
    let before = metrics.resyncs.get_or_create(&label).get();
    tx.send(Trigger::Networks {
        height: 5,
        ids: [1].into(),
        providers: Default::default(),
    })
    .await
    .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while metrics.resyncs.get_or_create(&label).get() <= before {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no full re-read after failures"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    drop(tx);
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("controller must stop")
        .unwrap();
}
