//! Connections to a CometBFT node: an HTTP client for queries and txs, a
//! WebSocket client for event subscriptions, both checked against the
//! expected chain id.

use std::time::Duration;

use tendermint_rpc::client::CompatMode;
use tendermint_rpc::{Client, HttpClient, HttpClientUrl, Url, WebSocketClient, WebSocketClientUrl};

/// Failure to reach or trust a node.
#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    /// The configured URL cannot be used.
    #[error("invalid rpc url {url}: {reason}")]
    InvalidUrl {
        /// The URL as configured.
        url: String,
        /// Why it was rejected.
        reason: String,
    },
    /// The node did not answer (refused, timed out, closed).
    #[error("node {url} unreachable: {source}")]
    Unreachable {
        /// Node URL.
        url: String,
        /// Transport error.
        #[source]
        source: Box<tendermint_rpc::Error>,
    },
    /// The node answered with something that is not a valid response.
    #[error("node {url} sent a malformed response: {source}")]
    Malformed {
        /// Node URL.
        url: String,
        /// Decoding error.
        #[source]
        source: Box<tendermint_rpc::Error>,
    },
    /// The node serves another chain.
    #[error("node {url} serves chain {actual}, expected {expected}")]
    WrongChainId {
        /// Node URL.
        url: String,
        /// Configured chain id.
        expected: String,
        /// Chain id reported by the node.
        actual: String,
    },
}

/// Where the node is and which chain it must serve.
#[derive(Clone, Debug)]
pub struct Endpoint {
    /// `http://host:26657` (a `tcp://` scheme is accepted and read as http).
    pub url: Url,
    /// Expected chain id.
    pub chain_id: String,
    /// Per-request timeout of the HTTP client.
    pub timeout: Duration,
}

impl Endpoint {
    /// Parses the URL; `tcp://` is treated as `http://`.
    pub fn new(url: &str, chain_id: &str, timeout: Duration) -> Result<Self, RpcError> {
        let normalized = match url.strip_prefix("tcp://") {
            Some(rest) => format!("http://{rest}"),
            None => url.to_owned(),
        };
        let parsed: Url =
            normalized
                .parse()
                .map_err(|e: tendermint_rpc::Error| RpcError::InvalidUrl {
                    url: url.to_owned(),
                    reason: e.to_string(),
                })?;
        if !matches!(
            parsed.scheme(),
            tendermint_rpc::Scheme::Http | tendermint_rpc::Scheme::Https
        ) {
            return Err(RpcError::InvalidUrl {
                url: url.to_owned(),
                reason: "scheme must be http, https or tcp".into(),
            });
        }
        Ok(Endpoint {
            url: parsed,
            chain_id: chain_id.to_owned(),
            timeout,
        })
    }

    /// The HTTP client (CometBFT 0.38 dialect). Does not contact the node.
    pub fn http(&self) -> Result<HttpClient, RpcError> {
        let url = HttpClientUrl::try_from(self.url.clone()).map_err(|e| self.invalid(e))?;
        HttpClient::builder(url)
            .compat_mode(CompatMode::V0_38)
            .timeout(self.timeout)
            .build()
            .map_err(|e| self.invalid(e))
    }

    /// The WebSocket URL: same host and port, path `/websocket`.
    pub fn websocket_url(&self) -> Result<WebSocketClientUrl, RpcError> {
        let scheme = match self.url.scheme() {
            tendermint_rpc::Scheme::Https => "wss",
            _ => "ws",
        };
        let url = format!(
            "{scheme}://{}:{}/websocket",
            self.url.host(),
            self.url.port()
        );
        url.parse().map_err(|e| self.invalid(e))
    }

    /// Opens a WebSocket connection; the returned driver must be run
    /// (`driver.run()`) for the client to work.
    pub async fn websocket(
        &self,
    ) -> Result<
        (
            WebSocketClient,
            tendermint_rpc::client::WebSocketClientDriver,
        ),
        RpcError,
    > {
        let url = self.websocket_url()?;
        let fut = WebSocketClient::builder(url)
            .compat_mode(CompatMode::V0_38)
            .build();
        match tokio::time::timeout(self.timeout, fut).await {
            Ok(Ok(pair)) => Ok(pair),
            Ok(Err(source)) => Err(self.unreachable(source)),
            Err(_) => Err(self.unreachable(tendermint_rpc::Error::client_internal(
                "websocket connect timed out".into(),
            ))),
        }
    }

    /// Asks the node for its status and checks the chain id; returns the
    /// latest height.
    pub async fn check(&self, client: &HttpClient) -> Result<u64, RpcError> {
        let status = client.status().await.map_err(|e| self.unreachable(e))?;
        let actual = status.node_info.network.to_string();
        if actual != self.chain_id {
            return Err(RpcError::WrongChainId {
                url: self.url.to_string(),
                expected: self.chain_id.clone(),
                actual,
            });
        }
        Ok(status.sync_info.latest_block_height.value())
    }

    /// Maps an error of this node: undecodable answers are
    /// [`RpcError::Malformed`], everything else [`RpcError::Unreachable`].
    pub fn unreachable(&self, source: tendermint_rpc::Error) -> RpcError {
        use tendermint_rpc::error::ErrorDetail as D;
        let url = self.url.to_string();
        let malformed = matches!(
            source.detail(),
            D::Serde(_)
                | D::Parse(_)
                | D::MalformedJson(_)
                | D::MismatchResponse(_)
                | D::ParseInt(_)
                | D::OutOfRange(_)
                | D::Tendermint(_)
        );
        let source = Box::new(source);
        if malformed {
            RpcError::Malformed { url, source }
        } else {
            RpcError::Unreachable { url, source }
        }
    }

    fn invalid(&self, e: impl std::fmt::Display) -> RpcError {
        RpcError::InvalidUrl {
            url: self.url.to_string(),
            reason: e.to_string(),
        }
    }
}
