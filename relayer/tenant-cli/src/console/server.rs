//! The HTTP side: the page (static files embedded in the binary), the
//! snapshot as JSON with its version as ETag (the page polls it; an
//! unchanged snapshot answers `304 Not Modified`), and the explanation of
//! one matrix cell. Read-only: no handler changes anything, and nothing
//! served holds a secret.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

use super::poll::Board;

const INDEX_HTML: &str = include_str!("page/index.html");
const APP_JS: &str = include_str!("page/app.js");
const STYLE_CSS: &str = include_str!("page/style.css");

/// The router over `board`.
pub fn router(board: Arc<Board>) -> Router {
    Router::new()
        .route(
            "/",
            get(|| async { page("text/html; charset=utf-8", INDEX_HTML) }),
        )
        .route(
            "/app.js",
            get(|| async { page("text/javascript; charset=utf-8", APP_JS) }),
        )
        .route(
            "/style.css",
            get(|| async { page("text/css; charset=utf-8", STYLE_CSS) }),
        )
        .route("/api/snapshot", get(snapshot))
        .route("/api/explain", get(explain))
        .layer(middleware::from_fn(local_host_only))
        .with_state(board)
}

/// Serves until the listener fails.
pub async fn serve(listener: tokio::net::TcpListener, board: Arc<Board>) -> std::io::Result<()> {
    axum::serve(listener, router(board)).await
}

fn page(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// Refuses requests whose `Host` is neither `localhost` nor an IP literal,
/// so that a web page elsewhere cannot read the console through DNS
/// rebinding.
async fn local_host_only(req: Request, next: Next) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name,
        _ => host,
    };
    if name == "localhost" || is_ip(name) {
        next.run(req).await
    } else {
        (StatusCode::FORBIDDEN, "console: unexpected Host header").into_response()
    }
}

/// Whether `name` is an IP literal (`[...]` for IPv6).
fn is_ip(name: &str) -> bool {
    name.trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<std::net::IpAddr>()
        .is_ok()
}

async fn snapshot(State(board): State<Arc<Board>>, headers: HeaderMap) -> Response {
    let latest = board.latest();
    let etag = format!("\"v{}\"", latest.version);
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == etag.as_bytes());
    let etag = HeaderValue::from_str(&etag).unwrap_or(HeaderValue::from_static("\"v0\""));
    let common = [
        (header::ETAG, etag),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
    ];
    if fresh {
        return (StatusCode::NOT_MODIFIED, common).into_response();
    }
    (
        common,
        [(header::CONTENT_TYPE, "application/json")],
        latest.body.to_string(),
    )
        .into_response()
}

/// Query of `/api/explain`.
#[derive(Debug, Deserialize)]
struct ExplainQuery {
    network: u64,
    from: String,
    to: String,
}

async fn explain(State(board): State<Arc<Board>>, Query(q): Query<ExplainQuery>) -> Response {
    let latest = board.latest();
    let cell = latest
        .networks
        .get(&q.network)
        .and_then(|n| n.explain(board.viewer(), &q.from, &q.to));
    match cell {
        Some(cell) => axum::Json(cell).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            axum::Json(serde_json::json!({
                "error": "no such cell visible to this viewer"
            })),
        )
            .into_response(),
    }
}
