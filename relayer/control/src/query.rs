//! Smart queries of CosmWasm contracts through `abci_query` on the wasm
//! gRPC path, plus raw gRPC-path queries for other modules.
//!
//! Paginated reads use pages small enough that one page stays far below
//! Akash's 3M gas limit for smart queries ([`PAGE_NETWORKS`], [`PAGE_MEMBERS`]).

use cosmrs::proto::cosmwasm::wasm::v1::{
    QueryContractInfoRequest, QuerySmartContractStateRequest, QuerySmartContractStateResponse,
};
use prost::Message;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tendermint_rpc::{Client, HttpClient};

use crate::rpc::{Endpoint, RpcError};

/// Page size for network listings (`provider_view`): tiny records.
pub const PAGE_NETWORKS: u32 = 100;
/// Page size for member listings (manifest pages: each member with tags
/// and a policy; 100 members cost about 437k of the 3M gas at 16,384
/// members, measured in `contracts/vm-tests`).
pub const PAGE_MEMBERS: u32 = 100;
/// Page size for provider records.
pub const PAGE_PROVIDERS: u32 = 50;

const SMART_PATH: &str = "/cosmwasm.wasm.v1.Query/SmartContractState";
const CONTRACT_INFO_PATH: &str = "/cosmwasm.wasm.v1.Query/ContractInfo";

/// Failure of a query.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// Transport or chain-id problem.
    #[error(transparent)]
    Rpc(#[from] RpcError),
    /// The node rejected the query (bad request, contract error, unknown
    /// path). `log` is the node's message.
    #[error("query {path} failed with code {code}: {log}")]
    Rejected {
        /// gRPC path.
        path: String,
        /// ABCI code.
        code: u32,
        /// Node's explanation.
        log: String,
    },
    /// No contract lives at this address.
    #[error("no contract at {0}")]
    UnknownContract(String),
    /// The response bytes are not the expected protobuf.
    #[error("undecodable protobuf from {path}: {source}")]
    Protobuf {
        /// gRPC path.
        path: String,
        /// Decoder error.
        #[source]
        source: prost::DecodeError,
    },
    /// The contract answered JSON that does not fit the expected type.
    #[error("unexpected contract answer to {query}: {source}")]
    Json {
        /// The query message (JSON).
        query: String,
        /// Decoder error.
        #[source]
        source: serde_json::Error,
    },
}

/// Runs queries against one node, optionally pinned at a height.
#[derive(Clone, Debug)]
pub struct Querier {
    endpoint: Endpoint,
    client: HttpClient,
}

impl Querier {
    /// A querier over the given node.
    pub fn new(endpoint: Endpoint) -> Result<Self, RpcError> {
        let client = endpoint.http()?;
        Ok(Querier { endpoint, client })
    }

    /// The node.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The HTTP client.
    pub fn client(&self) -> &HttpClient {
        &self.client
    }

    /// Raw `abci_query` on a gRPC path; returns the response bytes.
    /// `height` pins the state (None = latest).
    pub async fn grpc<Req: Message>(
        &self,
        path: &str,
        request: &Req,
        height: Option<u64>,
    ) -> Result<Vec<u8>, QueryError> {
        let height = height
            .map(cosmrs::tendermint::block::Height::try_from)
            .transpose()
            .map_err(|e| QueryError::Rejected {
                path: path.to_owned(),
                code: 0,
                log: format!("invalid height: {e}"),
            })?;
        let res = self
            .client
            .abci_query(
                Some(path.to_owned()),
                request.encode_to_vec(),
                height,
                false,
            )
            .await
            .map_err(|e| self.endpoint.unreachable(e))?;
        if res.code.is_err() {
            return Err(QueryError::Rejected {
                path: path.to_owned(),
                code: res.code.value(),
                log: res.log,
            });
        }
        Ok(res.value)
    }

    /// Typed gRPC query: encodes `request`, decodes the response as `Resp`.
    pub async fn grpc_typed<Req: Message, Resp: Message + Default>(
        &self,
        path: &str,
        request: &Req,
        height: Option<u64>,
    ) -> Result<Resp, QueryError> {
        let bytes = self.grpc(path, request, height).await?;
        Resp::decode(bytes.as_slice()).map_err(|source| QueryError::Protobuf {
            path: path.to_owned(),
            source,
        })
    }

    /// Fails with [`QueryError::UnknownContract`] unless a contract lives at
    /// `address`.
    pub async fn contract_exists(&self, address: &str) -> Result<(), QueryError> {
        let req = QueryContractInfoRequest {
            address: address.to_owned(),
        };
        match self.grpc(CONTRACT_INFO_PATH, &req, None).await {
            Ok(_) => Ok(()),
            Err(QueryError::Rejected { log, .. }) if is_unknown_contract(&log) => {
                Err(QueryError::UnknownContract(address.to_owned()))
            }
            Err(e) => Err(e),
        }
    }

    /// Smart query of `contract` with message `msg`, decoding the JSON answer.
    pub async fn smart<Q: Serialize, R: DeserializeOwned>(
        &self,
        contract: &str,
        msg: &Q,
        height: Option<u64>,
    ) -> Result<R, QueryError> {
        let query_data = serde_json::to_vec(msg).map_err(|source| QueryError::Json {
            query: "<unserializable>".into(),
            source,
        })?;
        let req = QuerySmartContractStateRequest {
            address: contract.to_owned(),
            query_data: query_data.clone(),
        };
        let resp: QuerySmartContractStateResponse =
            match self.grpc_typed(SMART_PATH, &req, height).await {
                Err(QueryError::Rejected { log, .. }) if is_unknown_contract(&log) => {
                    return Err(QueryError::UnknownContract(contract.to_owned()));
                }
                other => other?,
            };
        serde_json::from_slice(&resp.data).map_err(|source| QueryError::Json {
            query: String::from_utf8_lossy(&query_data).into_owned(),
            source,
        })
    }
}

/// Whether a node's error log says the contract does not exist.
fn is_unknown_contract(log: &str) -> bool {
    let l = log.to_ascii_lowercase();
    l.contains("no such contract") || l.contains("contract: not found")
}
