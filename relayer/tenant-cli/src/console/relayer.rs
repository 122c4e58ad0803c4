//! The optional relayer status (`--relayer-status`): the JSON of a
//! relayer's `/status` endpoint, fetched on every refresh.

use std::time::Duration;

use serde::Serialize;

/// How long the status endpoint may take.
const STATUS_TIMEOUT: Duration = Duration::from_secs(1);

/// Largest status answer read.
const MAX_STATUS_BYTES: usize = 1 << 20;

/// The relayer status as shown.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RelayerView {
    /// The status URL.
    pub url: String,
    /// The answer, when the relayer answered with JSON.
    pub status: Option<serde_json::Value>,
    /// Why there is no answer.
    pub error: Option<String>,
}

/// Fetches a relayer's status endpoint.
#[derive(Clone, Debug)]
pub struct RelayerProbe {
    url: String,
    client: reqwest::Client,
}

/// The probe could not be built.
#[derive(Debug, thiserror::Error)]
#[error("relayer status client: {0}")]
pub struct ProbeError(#[from] reqwest::Error);

impl RelayerProbe {
    /// A probe of `url` (e.g. `http://127.0.0.1:9100/status`).
    pub fn new(url: String) -> Result<Self, ProbeError> {
        let client = reqwest::Client::builder().timeout(STATUS_TIMEOUT).build()?;
        Ok(RelayerProbe { url, client })
    }

    /// Asks the relayer; an unreachable relayer is an answer too.
    pub async fn fetch(&self) -> RelayerView {
        let (status, error) = match self.get().await {
            Ok(v) => (Some(v), None),
            Err(e) => (None, Some(e)),
        };
        RelayerView {
            url: self.url.clone(),
            status,
            error,
        }
    }

    async fn get(&self) -> Result<serde_json::Value, String> {
        let resp = self
            .client
            .get(&self.url)
            .send()
            .await
            .map_err(|e| format!("unreachable: {e}"))?;
        if !resp.status().is_success() {
            return Err(format!("HTTP {}", resp.status()));
        }
        let body = resp.bytes().await.map_err(|e| e.to_string())?;
        if body.len() > MAX_STATUS_BYTES {
            return Err(format!("answer larger than {MAX_STATUS_BYTES} bytes"));
        }
        serde_json::from_slice(&body).map_err(|e| format!("not JSON: {e}"))
    }
}
