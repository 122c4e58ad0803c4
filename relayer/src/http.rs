//! The HTTP endpoint: `/metrics` (Prometheus text) and `/status` (JSON of
//! the control plane and the data plane).

use std::net::SocketAddr;
use std::sync::Arc;

use avpn_control::status::ControlStatus;
use avpn_dataplane::Overlay;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus_client::registry::Registry;

/// What the handlers read.
#[derive(Clone)]
pub struct Shared {
    /// Metrics of both planes.
    pub registry: Arc<Registry>,
    /// Control-plane status.
    pub control: Arc<std::sync::Mutex<ControlStatus>>,
    /// Data plane (locked briefly for its status).
    pub overlay: Arc<tokio::sync::Mutex<Overlay>>,
}

async fn metrics(State(s): State<Shared>) -> impl IntoResponse {
    let mut out = String::new();
    match prometheus_client::encoding::text::encode(&mut out, &s.registry) {
        Ok(()) => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            out,
        ),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, "text/plain")],
            e.to_string(),
        ),
    }
}

async fn status(State(s): State<Shared>) -> impl IntoResponse {
    let control = s.control.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let dataplane = s.overlay.lock().await.status();
    axum::Json(serde_json::json!({ "control": control, "dataplane": dataplane }))
}

/// Binds `addr` and serves until the task is dropped.
pub async fn serve(
    addr: SocketAddr,
    shared: Shared,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/status", get(status))
        .with_state(shared);
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!(%addr, "http endpoint: /metrics /status");
    Ok(tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(%e, "http endpoint stopped");
        }
    }))
}
