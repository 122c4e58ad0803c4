//! A world for relays: providers A, B and R joined pairwise by veth links
//! (`198.18.<lo><hi>.<i + 1>` as in [`super::three`]), one lease on A and
//! one on B, an overlay per provider running in this process. The A–B
//! link can be taken down and up: A and B then reach each other only
//! through R.

use std::net::SocketAddr;
use std::time::Duration;

use avpn_dataplane::{Overlay, OverlayConfig};
use avpn_model::{Change, DataPlane};
use prometheus_client::registry::Registry;

use super::three::{link_if, link_pairwise, underlay};
use super::{Netns, ns_name, peer, until};

/// Provider accounts (A, B, R) and their identity seeds.
pub const PROVIDERS: [&str; 3] = ["akash1relaya", "akash1relayb", "akash1relayr"];
pub const SEEDS: [[u8; 32]; 3] = [[21; 32], [22; 32], [23; 32]];
/// Index of the relay provider.
pub const R: usize = 2;

pub struct Relayed {
    pub overlays: Vec<Overlay>,
    pub registries: Vec<Registry>,
    // Dropped after the overlays (fields drop in declaration order).
    /// `leases[0]` on A, `leases[1]` on B.
    pub leases: Vec<Netns>,
    pub provs: Vec<Netns>,
}

impl Relayed {
    /// Builds the world, the A–B link up if `direct` (else every
    /// connection between A and B is made through R); R forwards at most
    /// `pair_rate` bytes/s per pair.
    pub async fn new(test: &str, direct: bool, pair_rate: Option<u64>) -> Relayed {
        let provs: Vec<Netns> = ["pa", "pb", "pr"]
            .iter()
            .map(|r| Netns::new(&ns_name(test, r)))
            .collect();
        let leases: Vec<Netns> = ["la", "lb"]
            .iter()
            .map(|r| Netns::new(&ns_name(test, r)))
            .collect();
        link_pairwise(&provs);
        set_direct(&provs, direct);
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
            if let Some(rate) = pair_rate {
                cfg.relay_pair_rate = rate;
            }
            overlays.push(Overlay::start(cfg).expect("start"));
        }
        for (i, o) in overlays.iter_mut().enumerate() {
            for j in (0..3).filter(|j| *j != i) {
                let info = peer(PROVIDERS[j], SEEDS[j], &underlay(j, i));
                o.apply(Change::SetPeer(info)).await.unwrap();
            }
        }
        Relayed {
            overlays,
            registries,
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

    /// Takes the A–B link down or up.
    pub fn direct(&self, up: bool) {
        set_direct(&self.provs, up);
    }

    /// The path overlay `i` uses to provider `j` (`direct …`, `relay …`).
    pub fn path(&self, i: usize, j: usize) -> Option<String> {
        self.overlays[i]
            .status()
            .peers
            .into_iter()
            .find(|p| p.provider == PROVIDERS[j])?
            .paths?
            .in_use
    }

    /// Waits until A's path to B is `relay <R>` (`true`) or direct (`false`);
    /// returns how long that took.
    pub async fn until_relayed(&self, relayed: bool, within: Duration) -> Duration {
        let start = std::time::Instant::now();
        let want = if relayed {
            format!("relay {}", PROVIDERS[R])
        } else {
            format!("direct {}:{}", underlay(1, 0), super::PORT)
        };
        until(&format!("A's path to B is {want}"), within, || {
            (self.path(0, 1).as_deref() == Some(want.as_str())).then_some(())
        })
        .await;
        start.elapsed()
    }
}

/// Takes the A–B link of `provs` down or up.
fn set_direct(provs: &[Netns], up: bool) {
    let state = if up { "up" } else { "down" };
    provs[0].exec(&["ip", "link", "set", &link_if(1), state]);
    provs[1].exec(&["ip", "link", "set", &link_if(0), state]);
}
