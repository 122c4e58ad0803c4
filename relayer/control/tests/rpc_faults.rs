//! A tiny in-process fake CometBFT node answering garbage, another chain id
//! or contract errors, and an address nobody listens on: every case must end
//! in a clear typed error (or a counted retry), never a panic.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use avpn_control::lease::{self, LeaseVerdict, LeaseVerifier, Refusal, Verification};
use avpn_control::metrics::Metrics;
use avpn_control::query::{Querier, QueryError};
use avpn_control::rpc::{Endpoint, RpcError};
use avpn_control::watcher::{WatchConfig, watch};
use avpn_model::LeaseId;
use base64::Engine;
use prost::Message;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// What the fake node answers: given (method, params), either a JSON-RPC
/// `result` or a raw HTTP body.
enum Answer {
    Result(Value),
    Raw(&'static str),
}

type Handler = Arc<dyn Fn(&str, &Value) -> Answer + Send + Sync>;

/// Serves HTTP/1.1 JSON-RPC on 127.0.0.1 until dropped; counts requests.
struct FakeNode {
    url: String,
    hits: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeNode {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn read_request(sock: &mut tokio::net::TcpStream) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = sock.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| {
                    l.strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap_or(0))
                })
                .unwrap_or(0);
            while buf.len() < end + 4 + len {
                let n = sock.read(&mut chunk).await.ok()?;
                if n == 0 {
                    return None;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            return Some(buf[end + 4..end + 4 + len].to_vec());
        }
    }
}

async fn fake_node(handler: Handler) -> FakeNode {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let handler = handler.clone();
            let counter = counter.clone();
            tokio::spawn(async move {
                while let Some(body) = read_request(&mut sock).await {
                    counter.fetch_add(1, Ordering::SeqCst);
                    let req: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    let method = req["method"].as_str().unwrap_or("");
                    let text = match handler(method, &req["params"]) {
                        Answer::Result(r) => {
                            json!({"jsonrpc": "2.0", "id": req["id"], "result": r}).to_string()
                        }
                        Answer::Raw(s) => s.to_owned(),
                    };
                    let resp = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{}",
                        text.len(),
                        text
                    );
                    if sock.write_all(resp.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    FakeNode { url, hits, task }
}

fn status(network: &str) -> Value {
    json!({
        "node_info": {
            "protocol_version": {"p2p": "8", "block": "11", "app": "0"},
            "id": "0000000000000000000000000000000000000000",
            "listen_addr": "tcp://0.0.0.0:26656",
            "network": network,
            "version": "0.38.17",
            "channels": "40202122233038606100",
            "moniker": "fake",
            "other": {"tx_index": "on", "rpc_address": "tcp://0.0.0.0:26657"}
        },
        "sync_info": {
            "latest_block_hash": "", "latest_app_hash": "", "latest_block_height": "5",
            "latest_block_time": "2024-01-01T00:00:00Z", "earliest_block_hash": "", "earliest_app_hash": "",
            "earliest_block_height": "1", "earliest_block_time": "2024-01-01T00:00:00Z", "catching_up": false
        },
        "validator_info": {
            "address": "0000000000000000000000000000000000000000",
            "pub_key": {"type": "tendermint/PubKeyEd25519", "value": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="},
            "voting_power": "0"
        }
    })
}

fn abci(code: u32, log: &str, value: &[u8]) -> Value {
    json!({"response": {
        "code": code, "log": log, "info": "", "index": "0", "key": null,
        "value": base64::engine::general_purpose::STANDARD.encode(value),
        "proofOps": null, "height": "5", "codespace": if code == 0 { "" } else { "wasm" }
    }})
}

fn endpoint(url: &str, chain: &str) -> Endpoint {
    Endpoint::new(url, chain, Duration::from_secs(2)).unwrap()
}

#[tokio::test]
async fn garbage_and_wrong_chain_are_typed_errors() {
    let garbage = fake_node(Arc::new(|_, _| Answer::Raw("<html>502 bad gateway</html>"))).await;
    let ep = endpoint(&garbage.url, "avpn-localnet");
    let err = ep.check(&ep.http().unwrap()).await.unwrap_err();
    assert!(matches!(err, RpcError::Malformed { .. }), "{err}");

    let other = fake_node(Arc::new(|m, _| match m {
        "status" => Answer::Result(status("akashnet-2")),
        _ => Answer::Raw("{}"),
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

fn hex_decode(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .filter_map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok())
        .collect()
}

#[tokio::test]
async fn lease_verification_reads_the_akash_market() {
    // Leases of owner "akash1owner": dseq 1 active, dseq 2 closed; others not found.
    let node = fake_node(Arc::new(|_, params| {
        let req = lease::proto::QueryLeaseRequest::decode(
            hex_decode(params["data"].as_str().unwrap_or("")).as_slice(),
        )
        .unwrap_or_default();
        let id = req.id.unwrap_or_default();
        if params["path"] != lease::LEASE_PATH || id.owner != "akash1owner" || id.dseq > 3 {
            return Answer::Result(abci(1, "lease not found", &[]));
        }
        if id.dseq == 3 {
            return Answer::Result(abci(0, "", &[0x0a, 0xff]));
        }
        let state = if id.dseq == 1 {
            lease::proto::STATE_ACTIVE
        } else {
            3
        };
        let resp = lease::proto::QueryLeaseResponse {
            lease: Some(lease::proto::Lease {
                lease_id: Some(id),
                state,
            }),
        };
        Answer::Result(abci(0, "", &resp.encode_to_vec()))
    }))
    .await;
    let v = Verification::Market(Box::new(Querier::new(endpoint(&node.url, "c")).unwrap()));
    let lease = |dseq| LeaseId {
        dseq,
        gseq: 1,
        oseq: 1,
        provider: "akash1prov".into(),
    };
    assert_eq!(
        v.verify(&lease(1), &["akash1guest", "akash1owner"])
            .await
            .unwrap(),
        LeaseVerdict::Verified {
            owner: "akash1owner".into()
        }
    );
    assert_eq!(
        v.verify(&lease(1), &["akash1thief"]).await.unwrap(),
        LeaseVerdict::Refused(Refusal::NotFound)
    );
    assert_eq!(
        v.verify(&lease(2), &["akash1owner"]).await.unwrap(),
        LeaseVerdict::Refused(Refusal::NotActive(3))
    );
    assert!(
        v.verify(&lease(3), &["akash1owner"]).await.is_err(),
        "undecodable lease must be an error"
    );
    assert_eq!(
        Verification::Off.verify(&lease(9), &[]).await.unwrap(),
        LeaseVerdict::Unchecked
    );
}

#[tokio::test]
async fn watcher_retries_with_backoff_and_stops_when_consumer_leaves() {
    let node = fake_node(Arc::new(|_, _| Answer::Raw("garbage"))).await;
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
        _ => Answer::Raw("}{ not json"),
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
