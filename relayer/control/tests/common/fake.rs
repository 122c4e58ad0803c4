//! An in-process fake CometBFT node (JSON-RPC over HTTP/1.1 on 127.0.0.1)
//! and, on top of it, a scripted chain: the registry and directory
//! contracts answering smart queries from in-memory records, and the Akash
//! market answering lease queries with real protobuf bytes. Every query is
//! logged so tests can count what the relayer asked.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use avpn_control::lease::{self, proto};
use avpn_control::rpc::Endpoint;
use base64::Engine;
use cosmrs::proto::cosmwasm::wasm::v1::{
    QuerySmartContractStateRequest, QuerySmartContractStateResponse,
};
use cosmwasm_std::{Addr, Binary, Timestamp};
use network_registry::msg as reg;
use prost::Message;
use provider_directory::msg as dir;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// gRPC path of wasm smart queries.
pub const SMART_PATH: &str = "/cosmwasm.wasm.v1.Query/SmartContractState";

/// What the fake node answers: a JSON-RPC `result` or a raw HTTP body.
pub enum Answer {
    Result(Value),
    Raw(String),
}

/// Given (method, params), the answer.
pub type Handler = Arc<dyn Fn(&str, &Value) -> Answer + Send + Sync>;

/// Serves HTTP/1.1 JSON-RPC on 127.0.0.1 until dropped; counts requests.
pub struct FakeNode {
    pub url: String,
    pub hits: Arc<AtomicUsize>,
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

/// Starts a fake node answering with `handler`.
pub async fn fake_node(handler: Handler) -> FakeNode {
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
                        Answer::Raw(s) => s,
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

/// A `status` result of chain `network` at `height`.
pub fn status(network: &str, height: u64) -> Value {
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
            "latest_block_hash": "", "latest_app_hash": "", "latest_block_height": height.to_string(),
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

/// An `abci_query` result.
pub fn abci(code: u32, log: &str, value: &[u8]) -> Value {
    json!({"response": {
        "code": code, "log": log, "info": "", "index": "0", "key": null,
        "value": base64::engine::general_purpose::STANDARD.encode(value),
        "proofOps": null, "height": "5", "codespace": if code == 0 { "" } else { "wasm" }
    }})
}

pub fn hex_decode(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .filter_map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok())
        .collect()
}

/// An endpoint of the fake node for chain `chain`.
pub fn fake_endpoint(url: &str, chain: &str) -> Endpoint {
    Endpoint::new(url, chain, Duration::from_secs(2)).unwrap()
}

/// Chain id of the scripted chain.
pub const CHAIN: &str = "fake-1";
/// Registry contract address of the scripted chain.
pub const REGISTRY: &str = "akash1registry";
/// Directory contract address of the scripted chain.
pub const DIRECTORY: &str = "akash1directory";

/// One registry network: its record, members (by name) and authorized
/// providers.
#[derive(Clone, Debug)]
pub struct FakeNetwork {
    pub record: reg::NetworkResponse,
    /// Members by name (add them with [`FakeNetwork::member`]).
    pub members: BTreeMap<String, reg::ManifestMember>,
    pub authorized: BTreeSet<String>,
    /// Services by name (the `services` query's answer).
    pub services: BTreeMap<String, reg::ServiceResponse>,
    /// Providers hosting members.
    hosts: BTreeSet<String>,
}

impl FakeNetwork {
    /// An open network `id` of `owner` on 100.64.0.0/16, default deny.
    pub fn new(id: u64, owner: &str) -> FakeNetwork {
        FakeNetwork {
            record: reg::NetworkResponse {
                id,
                owner: Addr::unchecked(owner),
                name: format!("net{id}"),
                cidr: "100.64.0.0/16".into(),
                cidr6: None,
                default_action: reg::Action::Deny,
                tags: vec!["web".into()],
                start_time: None,
                end_time: None,
                status: reg::NetworkStatus::Open,
                revision: 1,
                member_count: 0,
                created_at: Timestamp::from_seconds(1),
            },
            members: BTreeMap::new(),
            authorized: BTreeSet::new(),
            services: BTreeMap::new(),
            hosts: BTreeSet::new(),
        }
    }

    /// Adds member `name` at `ip` bound to `lease` (no rule: default policy).
    pub fn member(&mut self, name: &str, ip: &str, lease: reg::LeaseId) -> &mut Self {
        self.hosts.insert(lease.provider.clone());
        self.members.insert(
            name.to_owned(),
            reg::ManifestMember {
                name: name.to_owned(),
                lease,
                tags: vec!["web".into()],
                service: None,
                ip: Some(ip.to_owned()),
                policy: reg::Policy::default(),
                weight: None,
            },
        );
        self.record.member_count = self.members.len() as u32;
        self
    }

    /// Replaces `name`'s policy and bumps the revision.
    pub fn set_policy(&mut self, name: &str, policy: reg::Policy) {
        self.members.get_mut(name).unwrap().policy = policy;
        self.record.revision += 1;
    }

    /// Providers this network names: authorized or hosting.
    pub fn names(&self, provider: &str) -> bool {
        self.authorized.contains(provider) || self.hosts.contains(provider)
    }
}

/// A lease the fake market knows, with its `Lease.State`.
#[derive(Clone, Debug)]
pub struct MarketLease {
    pub id: proto::LeaseId,
    pub state: i32,
}

/// One query the node received.
#[derive(Clone, Debug, PartialEq)]
pub enum Logged {
    /// A smart query of `contract` with its JSON message.
    Smart { contract: String, query: Value },
    /// A market lease query with the id asked for.
    Lease(proto::LeaseId),
}

/// The scripted chain's state; edit it between steps.
#[derive(Default)]
pub struct Chain {
    pub height: u64,
    pub networks: BTreeMap<u64, FakeNetwork>,
    pub providers: BTreeMap<String, dir::ProviderRecord>,
    pub market: Vec<MarketLease>,
    /// The market looks leases up without their owner (and answers the
    /// lease it found, with its real owner): a market that would let a
    /// query for someone else's lease through.
    pub market_ignores_owner: bool,
    /// Networks whose `manifest` query answers garbage.
    pub broken_manifest: BTreeSet<u64>,
    /// Leases (dseq) whose market query fails.
    pub broken_leases: BTreeSet<u64>,
    /// Every query received, in order (unless `quiet`).
    pub log: Vec<Logged>,
    /// Do not log queries (long benchmarks).
    pub quiet: bool,
}

impl Chain {
    /// Smart queries of the registry that read network `id` itself
    /// (`network`, `manifest`, `members`, `member`, `policy`, `providers`,
    /// ...), as opposed to discovery queries.
    pub fn reads_of(&self, id: u64) -> Vec<Value> {
        self.log
            .iter()
            .filter_map(|l| match l {
                Logged::Smart { contract, query } if contract == REGISTRY => Some(query),
                _ => None,
            })
            .filter(|q| {
                q.as_object()
                    .and_then(|o| o.values().next())
                    .and_then(|v| v.get("network_id"))
                    .and_then(Value::as_u64)
                    == Some(id)
            })
            .cloned()
            .collect()
    }

    /// Market queries received.
    pub fn lease_queries(&self) -> Vec<proto::LeaseId> {
        self.log
            .iter()
            .filter_map(|l| match l {
                Logged::Lease(id) => Some(id.clone()),
                _ => None,
            })
            .collect()
    }

    fn answer(&mut self, method: &str, params: &Value) -> Answer {
        match method {
            "status" => Answer::Result(status(CHAIN, self.height)),
            "abci_query" => {
                let data = hex_decode(params["data"].as_str().unwrap_or(""));
                match params["path"].as_str().unwrap_or("") {
                    SMART_PATH => self.smart(&data),
                    lease::LEASE_PATH => self.lease(&data),
                    other => Answer::Result(abci(6, &format!("unknown query path {other}"), &[])),
                }
            }
            _ => Answer::Raw("{}".into()),
        }
    }

    fn smart(&mut self, data: &[u8]) -> Answer {
        let req = QuerySmartContractStateRequest::decode(data).unwrap();
        let query: Value = serde_json::from_slice(&req.query_data).unwrap();
        if !self.quiet {
            self.log.push(Logged::Smart {
                contract: req.address.clone(),
                query: query.clone(),
            });
        }
        let ok = |v: Value| {
            let resp = QuerySmartContractStateResponse {
                data: serde_json::to_vec(&v).unwrap(),
            };
            Answer::Result(abci(0, "", &resp.encode_to_vec()))
        };
        let err = |log: String| Answer::Result(abci(5, &log, &[]));
        match req.address.as_str() {
            REGISTRY => match serde_json::from_value::<reg::QueryMsg>(query).unwrap() {
                reg::QueryMsg::Network { network_id } => match self.networks.get(&network_id) {
                    Some(n) => ok(json!(n.record)),
                    None => err(format!(
                        "network {network_id} not found: query wasm contract failed"
                    )),
                },
                reg::QueryMsg::Manifest {
                    network_id,
                    start_after,
                    limit,
                } => {
                    if self.broken_manifest.contains(&network_id) {
                        return Answer::Result(abci(0, "", b"\xff\xff garbage"));
                    }
                    let Some(n) = self.networks.get(&network_id) else {
                        return err(format!("network {network_id} not found"));
                    };
                    let limit = limit.unwrap_or(30).min(100) as usize;
                    let from = match start_after {
                        Some(s) => Bound::Excluded(s),
                        None => Bound::Unbounded,
                    };
                    let members: Vec<reg::ManifestMember> = n
                        .members
                        .range((from, Bound::Unbounded))
                        .take(limit)
                        .map(|(_, m)| m.clone())
                        .collect();
                    let next = (members.len() == limit)
                        .then(|| members.last().map(|m| m.name.clone()))
                        .flatten();
                    ok(json!(reg::ManifestResponse {
                        manifest: reg::Manifest {
                            default_action: n.record.default_action,
                            tags: n.record.tags.clone(),
                            providers: n.authorized.iter().cloned().collect(),
                            members,
                        },
                        next_start_after: next,
                    }))
                }
                reg::QueryMsg::Services {
                    network_id,
                    start_after,
                    limit,
                } => {
                    let Some(n) = self.networks.get(&network_id) else {
                        return err(format!("network {network_id} not found"));
                    };
                    let limit = limit.unwrap_or(30).min(100) as usize;
                    let from = match start_after {
                        Some(s) => Bound::Excluded(s),
                        None => Bound::Unbounded,
                    };
                    let services: Vec<reg::ServiceResponse> = n
                        .services
                        .range((from, Bound::Unbounded))
                        .take(limit)
                        .map(|(_, s)| s.clone())
                        .collect();
                    ok(json!(reg::ServicesResponse { services }))
                }
                reg::QueryMsg::MembersByLease {
                    lease,
                    start_after,
                    limit,
                } => {
                    let limit = limit.unwrap_or(30).min(100) as usize;
                    let after = start_after.map(|s| (s.network_id, s.name));
                    let members: Vec<reg::LeaseMember> = self
                        .networks
                        .values()
                        .filter(|n| n.record.status == reg::NetworkStatus::Open)
                        .flat_map(|n| {
                            n.members
                                .values()
                                .filter(|m| m.lease == lease)
                                .map(|m| (n.record.id, m.name.clone()))
                        })
                        .filter(|k| after.as_ref().is_none_or(|a| k > a))
                        .take(limit)
                        .map(|(network_id, name)| reg::LeaseMember { network_id, name })
                        .collect();
                    ok(json!(reg::LeaseMembersResponse { members }))
                }
                reg::QueryMsg::ProviderView {
                    provider,
                    start_after,
                    limit,
                } => {
                    let limit = limit.unwrap_or(30).min(100) as usize;
                    let from = start_after.map_or(0, |s| s + 1);
                    let networks: Vec<reg::ProviderNetwork> = self
                        .networks
                        .range(from..)
                        .map(|(_, n)| n)
                        .filter(|n| n.names(&provider))
                        .take(limit)
                        .map(|n| reg::ProviderNetwork {
                            network_id: n.record.id,
                            revision: n.record.revision,
                        })
                        .collect();
                    ok(json!(reg::ProviderViewResponse { networks }))
                }
                reg::QueryMsg::NetworksByOwner {
                    owner,
                    start_after,
                    limit,
                } => {
                    let limit = limit.unwrap_or(30).min(100) as usize;
                    let networks: Vec<reg::NetworkResponse> = self
                        .networks
                        .values()
                        .filter(|n| n.record.owner.as_str() == owner)
                        .filter(|n| start_after.is_none_or(|s| n.record.id > s))
                        .take(limit)
                        .map(|n| n.record.clone())
                        .collect();
                    ok(json!(reg::NetworksResponse { networks }))
                }
                other => err(format!("fake registry does not answer {other:?}")),
            },
            DIRECTORY => match serde_json::from_value::<dir::QueryMsg>(query).unwrap() {
                dir::QueryMsg::Provider { address } => match self.providers.get(&address) {
                    Some(r) => ok(json!(r)),
                    None => err(format!("provider {address} is not registered")),
                },
                other => err(format!("fake directory does not answer {other:?}")),
            },
            other => Answer::Result(abci(22, &format!("no such contract: {other}"), &[])),
        }
    }

    fn lease(&mut self, data: &[u8]) -> Answer {
        let req = proto::QueryLeaseRequest::decode(data).unwrap();
        let asked = req.id.unwrap_or_default();
        if !self.quiet {
            self.log.push(Logged::Lease(asked.clone()));
        }
        if self.broken_leases.contains(&asked.dseq) {
            return Answer::Result(abci(
                13,
                "rpc error: code = Internal desc = market store unavailable",
                &[],
            ));
        }
        let same_seq = |l: &proto::LeaseId| {
            (l.dseq, l.gseq, l.oseq, &l.provider, l.bseq)
                == (
                    asked.dseq,
                    asked.gseq,
                    asked.oseq,
                    &asked.provider,
                    asked.bseq,
                )
        };
        let found = self.market.iter().find(|l| {
            if self.market_ignores_owner {
                same_seq(&l.id)
            } else {
                l.id == asked
            }
        });
        match found {
            Some(l) => {
                let resp = proto::QueryLeaseResponse {
                    lease: Some(proto::Lease {
                        id: Some(l.id.clone()),
                        state: l.state,
                    }),
                };
                Answer::Result(abci(0, "", &resp.encode_to_vec()))
            }
            None => Answer::Result(abci(
                5,
                "rpc error: code = NotFound desc = lease not found",
                &[],
            )),
        }
    }
}

/// A fake node serving `chain`.
pub async fn chain_node(chain: Arc<Mutex<Chain>>) -> FakeNode {
    fake_node(Arc::new(move |m, p| chain.lock().unwrap().answer(m, p))).await
}

/// A directory record of `addr` with overlay key `[key; 32]`.
pub fn record(addr: &str, key: u8) -> dir::ProviderRecord {
    dir::ProviderRecord {
        address: Addr::unchecked(addr),
        overlay_key: Binary::from(vec![key; 32]),
        previous_key: None,
        endpoints: vec![format!("198.18.0.{key}:7000")],
        region: None,
        relay: false,
        registered_at: Timestamp::from_seconds(1),
        updated_at: Timestamp::from_seconds(1),
    }
}

/// The registry's lease id.
pub fn reg_lease(owner: &str, dseq: u64, provider: &str, bseq: u32) -> reg::LeaseId {
    reg::LeaseId {
        owner: owner.into(),
        dseq,
        gseq: 1,
        oseq: 1,
        provider: provider.into(),
        bseq,
    }
}

/// The market's lease id.
pub fn market_lease(owner: &str, dseq: u64, provider: &str, bseq: u32) -> proto::LeaseId {
    proto::LeaseId {
        owner: owner.into(),
        dseq,
        gseq: 1,
        oseq: 1,
        provider: provider.into(),
        bseq,
    }
}
