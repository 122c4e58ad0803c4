//! A three-provider world: providers p1, p2 and p3 joined pairwise by veth
//! links, one lease namespace per provider plus a second one on p1, and an
//! overlay per provider running in this process. The kernel here has no
//! `netem`, so p1 reaches p2 and p3 through delaying UDP relays ([`Relay`],
//! inside p1's namespace), which can also black-hole a provider; p1 dials
//! both (the lower provider address dials).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use avpn_dataplane::netns::NetnsWorker;
use avpn_dataplane::{Overlay, OverlayConfig, PeerState};
use avpn_model::{Change, DataPlane};
use prometheus_client::registry::Registry;
use tokio::net::UdpSocket;

use super::{Netns, ns_name, peer, run_ok, until};

/// Provider accounts and identity seeds, by index 0..3.
pub const PROVIDERS: [&str; 3] = ["akash1provider1", "akash1provider2", "akash1provider3"];
pub const SEEDS: [[u8; 32]; 3] = [[11; 32], [12; 32], [13; 32]];

/// The underlay address of provider `i` on its link with provider `j`:
/// `198.18.<lo><hi>.<i + 1>`.
pub fn underlay(i: usize, j: usize) -> String {
    let (lo, hi) = (i.min(j) + 1, i.max(j) + 1);
    format!("198.18.{lo}{hi}.{}", i + 1)
}

/// The interface of a provider towards provider `j`.
pub fn link_if(j: usize) -> String {
    format!("to{}", j + 1)
}

/// Joins three provider namespaces pairwise by veth links, provider `i`
/// holding [`underlay`]`(i, j)` on its interface [`link_if`]`(j)`.
pub fn link_pairwise(provs: &[Netns]) {
    for (i, j) in [(0, 1), (0, 2), (1, 2)] {
        run_ok(&[
            "ip",
            "link",
            "add",
            &link_if(j),
            "netns",
            &provs[i].name,
            "type",
            "veth",
            "peer",
            "name",
            &link_if(i),
            "netns",
            &provs[j].name,
        ]);
        for (me, other) in [(i, j), (j, i)] {
            let ns = &provs[me];
            let dev = link_if(other);
            ns.exec(&[
                "ip",
                "addr",
                "add",
                &format!("{}/24", underlay(me, other)),
                "dev",
                &dev,
            ]);
            ns.exec(&["ip", "link", "set", &dev, "up"]);
        }
    }
}

/// A UDP relay in p1's namespace between p1's overlay and another
/// provider, delaying each packet by a one-way delay; while `cut` is set
/// it drops everything (the provider looks dead to p1).
pub struct Relay {
    pub cut: Arc<AtomicBool>,
}

impl Relay {
    /// Starts a relay listening on `listen` inside `ns`, forwarding to
    /// `upstream` with `one_way` delay each way.
    async fn start(
        ns: &Netns,
        listen: SocketAddr,
        upstream: SocketAddr,
        one_way: Duration,
    ) -> Relay {
        let worker = NetnsWorker::spawn(&ns.path()).unwrap();
        let (inner, outer) = worker
            .run(move || {
                let bind = |a: SocketAddr| {
                    let s = std::net::UdpSocket::bind(a)?;
                    s.set_nonblocking(true)?;
                    Ok::<_, std::io::Error>(s)
                };
                Ok::<_, std::io::Error>((bind(listen)?, bind("0.0.0.0:0".parse().unwrap())?))
            })
            .await
            .unwrap()
            .unwrap();
        let inner = Arc::new(UdpSocket::from_std(inner).unwrap());
        let outer = Arc::new(UdpSocket::from_std(outer).unwrap());
        let cut = Arc::new(AtomicBool::new(false));
        let client: Arc<std::sync::Mutex<Option<SocketAddr>>> = Arc::default();
        // p1 → provider.
        {
            let (inner, outer, cut, client) =
                (inner.clone(), outer.clone(), cut.clone(), client.clone());
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65536];
                while let Ok((n, from)) = inner.recv_from(&mut buf).await {
                    *client.lock().unwrap() = Some(from);
                    if cut.load(Ordering::Relaxed) {
                        continue;
                    }
                    let (pkt, outer) = (buf[..n].to_vec(), outer.clone());
                    tokio::spawn(async move {
                        tokio::time::sleep(one_way).await;
                        let _ = outer.send_to(&pkt, upstream).await;
                    });
                }
            });
        }
        // Provider → p1.
        {
            let cut = cut.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65536];
                while let Ok((n, _)) = outer.recv_from(&mut buf).await {
                    let to = *client.lock().unwrap();
                    let Some(to) = to.filter(|_| !cut.load(Ordering::Relaxed)) else {
                        continue;
                    };
                    let (pkt, inner) = (buf[..n].to_vec(), inner.clone());
                    tokio::spawn(async move {
                        tokio::time::sleep(one_way).await;
                        let _ = inner.send_to(&pkt, to).await;
                    });
                }
            });
        }
        Relay { cut }
    }
}

pub struct Three {
    pub overlays: Vec<Overlay>,
    pub registries: Vec<Registry>,
    /// p1's relays to p2 (`relays[0]`) and p3 (`relays[1]`).
    pub relays: Vec<Relay>,
    // Dropped after the overlays (fields drop in declaration order).
    /// One lease per provider; `leases[3]` is a second lease on p1.
    pub leases: Vec<Netns>,
    pub provs: Vec<Netns>,
}

impl Three {
    /// Builds the world; p1 reaches p2 with `one_way[0]` and p3 with
    /// `one_way[1]` of delay each way (RTT twice that).
    pub async fn new(test: &str, one_way: [Duration; 2]) -> Three {
        let provs: Vec<Netns> = (1..=3)
            .map(|i| Netns::new(&ns_name(test, &format!("p{i}"))))
            .collect();
        let leases: Vec<Netns> = ["l1", "l2", "l3", "l1b"]
            .iter()
            .map(|r| Netns::new(&ns_name(test, r)))
            .collect();
        link_pairwise(&provs);
        let mut relays = Vec::new();
        for (k, j) in [1usize, 2].into_iter().enumerate() {
            let listen: SocketAddr = format!("127.0.0.1:{}", 7500 + j).parse().unwrap();
            let upstream: SocketAddr = format!("{}:{}", underlay(j, 0), super::PORT)
                .parse()
                .unwrap();
            relays.push(Relay::start(&provs[0], listen, upstream, one_way[k]).await);
        }
        let mut registries: Vec<Registry> = (0..3).map(|_| Registry::default()).collect();
        let mut overlays = Vec::new();
        for (i, reg) in registries.iter_mut().enumerate() {
            let mut cfg = OverlayConfig::new(
                SocketAddr::new("0.0.0.0".parse().unwrap(), super::PORT),
                SEEDS[i],
                PROVIDERS[i].into(),
                reg,
            );
            cfg.underlay_netns = Some(provs[i].path());
            overlays.push(Overlay::start(cfg).expect("start"));
        }
        for (i, o) in overlays.iter_mut().enumerate() {
            for j in (0..3).filter(|j| *j != i) {
                // p1 dials through its relays; the others dial directly.
                let endpoint = if i == 0 {
                    "127.0.0.1".to_string()
                } else {
                    underlay(j, i)
                };
                let mut info = peer(PROVIDERS[j], SEEDS[j], &endpoint);
                if i == 0 {
                    info.endpoints[0].set_port(7500 + j as u16);
                }
                o.apply(Change::SetPeer(info)).await.unwrap();
            }
        }
        Three {
            overlays,
            registries,
            relays,
            leases,
            provs,
        }
    }

    /// Applies the same change to every overlay.
    pub async fn all(&mut self, c: Change) {
        for o in &mut self.overlays {
            o.apply(c.clone()).await.unwrap();
        }
    }

    /// Waits until every overlay reports all its peers connected.
    pub async fn connected(&self) {
        until("peers connected", Duration::from_secs(15), || {
            self.overlays
                .iter()
                .all(|o| {
                    let st = o.status();
                    st.peers.len() == 2 && st.peers.iter().all(|p| p.state == PeerState::Connected)
                })
                .then_some(())
        })
        .await;
    }

    /// Black-holes (or restores) provider `j` (1 or 2) as seen from p1.
    pub fn cut(&self, j: usize, cut: bool) {
        self.relays[j - 1].cut.store(cut, Ordering::Relaxed);
    }
}
