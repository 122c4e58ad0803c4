//! Dials a relayer's overlay endpoint with a given identity, the way a
//! foreign provider would, and reports whether the relayer accepted the
//! handshake. Used from the attacker's side in the end-to-end tests.
//!
//! `quic-probe <identity-seed-file> <ip:port> <expected-server-key-hex>`
//! prints `accepted` (exit 0: the handshake authenticated us) or
//! `refused: <reason>` (exit 3: the relayer refused our key).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use avpn_dataplane::identity::{Identity, TrustStore, client_tls};
use avpn_model::OverlayKey;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, seed_file, addr, server_key] = &args[..] else {
        eprintln!("usage: quic-probe <identity-seed-file> <ip:port> <server-key-hex>");
        std::process::exit(2);
    };
    let seed: [u8; 32] = std::fs::read(seed_file)
        .expect("read seed")
        .try_into()
        .expect("32-byte seed");
    let key: [u8; 32] = hex::decode(server_key)
        .expect("hex key")
        .try_into()
        .expect("32-byte key");
    let addr: SocketAddr = addr.parse().expect("ip:port");
    let identity = Identity::from_seed(&seed).expect("identity");
    let trust = Arc::new(TrustStore::default());
    trust.set_peer(
        &"target".to_owned(),
        &[OverlayKey {
            key,
            valid_until: None,
        }],
    );
    let tls = client_tls(&identity, trust).expect("tls");
    let quic = quinn::crypto::rustls::QuicClientConfig::try_from(tls).expect("quic tls");
    let mut endpoint =
        quinn::Endpoint::client("0.0.0.0:0".parse().expect("addr")).expect("endpoint");
    endpoint.set_default_client_config(quinn::ClientConfig::new(Arc::new(quic)));
    let outcome = async {
        let conn = endpoint
            .connect(addr, "avpn")
            .map_err(|e| e.to_string())?
            .await
            .map_err(|e| e.to_string())?;
        // The server checks our certificate after our side of the handshake
        // completes; a refusal arrives as a transport (TLS alert) close
        // shortly after. An application close (e.g. the relayer keeping its
        // existing connection to the same peer) means we were authenticated.
        match tokio::time::timeout(Duration::from_secs(3), conn.closed()).await {
            Ok(quinn::ConnectionError::ApplicationClosed(_)) | Err(_) => Ok(()),
            Ok(reason) => Err(reason.to_string()),
        }
    };
    match tokio::time::timeout(Duration::from_secs(10), outcome).await {
        Ok(Ok(())) => println!("accepted"),
        Ok(Err(reason)) => {
            println!("refused: {reason}");
            std::process::exit(3);
        }
        Err(_) => {
            println!("refused: no answer within 10 s");
            std::process::exit(3);
        }
    }
}
