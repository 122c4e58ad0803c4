//! The console's HTTP surface without a chain: the embedded page, the
//! snapshot's ETag / 304, the Host check and explain of unknown cells.

use std::sync::Arc;

use avpn_tenant_cli::console::poll::Board;
use avpn_tenant_cli::console::server;

async fn serve() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let board = Arc::new(Board::new("akash1viewer".into()));
    tokio::spawn(server::serve(listener, board));
    format!("http://{addr}")
}

#[tokio::test]
async fn page_snapshot_and_guards() {
    let base = serve().await;
    let http = reqwest::Client::new();

    let page = http.get(format!("{base}/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("/app.js") && !html.contains("http://") && !html.contains("https://"));
    let js = http.get(format!("{base}/app.js")).send().await.unwrap();
    assert_eq!(js.status(), 200);
    assert!(
        !js.text().await.unwrap().contains("https://"),
        "no external scripts"
    );

    let snap = http
        .get(format!("{base}/api/snapshot"))
        .send()
        .await
        .unwrap();
    assert_eq!(snap.status(), 200);
    let etag = snap.headers()["etag"].clone();
    let again = http
        .get(format!("{base}/api/snapshot"))
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);

    let rebound = http
        .get(format!("{base}/api/snapshot"))
        .header("host", "evil.example:8080")
        .send()
        .await
        .unwrap();
    assert_eq!(rebound.status(), 403);

    let unknown = http
        .get(format!("{base}/api/explain?network=1&from=a&to=b"))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
}
