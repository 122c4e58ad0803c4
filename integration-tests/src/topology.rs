//! A simulated provider fleet: one network namespace per provider on a
//! shared underlay bridge, lease namespaces, and a link to the host so the
//! providers' relayers reach the localnet's RPC (which listens on 127.0.0.1
//! only) through a forwarder bound to the host end of that link.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

use anyhow::{Context, Result};

use crate::cmd::run;
use crate::netns::Netns;

/// Host-side address of the underlay (where forwarders listen).
pub fn host_addr(subnet: u8) -> Ipv4Addr {
    Ipv4Addr::new(198, 18, subnet, 254)
}

/// The underlay address of provider `i` (1-based).
pub fn provider_addr(subnet: u8, i: u8) -> Ipv4Addr {
    Ipv4Addr::new(198, 18, subnet, i)
}

/// Provider namespaces joined by a bridge, plus a host link. Dropping it
/// removes every namespace and link it made.
pub struct Fleet {
    /// Provider namespaces, index 0 = provider-1.
    pub providers: Vec<Netns>,
    subnet: u8,
    host_if: String,
    forwarders: Vec<Forwarder>,
    // Declared last: dropped after the providers that hang off its bridge.
    _underlay: Netns,
}

impl Fleet {
    /// Builds `count` providers named `<tag>-p<i>` on 198.18.`subnet`.0/24.
    pub fn new(tag: &str, subnet: u8, count: u8) -> Result<Self> {
        let ul = Netns::new(&format!("{tag}-ul"))?;
        ul.exec("ip", &["link", "add", "br0", "type", "bridge"])?;
        ul.exec("ip", &["link", "set", "br0", "up"])?;
        let mut providers = Vec::new();
        for i in 1..=count {
            let ns = Netns::new(&format!("{tag}-p{i}"))?;
            let port = format!("p{i}");
            run(
                "ip",
                &[
                    "link",
                    "add",
                    &port,
                    "netns",
                    ul.name(),
                    "type",
                    "veth",
                    "peer",
                    "name",
                    "eth0",
                    "netns",
                    ns.name(),
                ],
            )?;
            ul.exec("ip", &["link", "set", &port, "master", "br0", "up"])?;
            ns.exec(
                "ip",
                &[
                    "addr",
                    "add",
                    &format!("{}/24", provider_addr(subnet, i)),
                    "dev",
                    "eth0",
                ],
            )?;
            ns.exec("ip", &["link", "set", "eth0", "up"])?;
            providers.push(ns);
        }
        let host_if = format!("{tag}-h");
        run(
            "ip",
            &[
                "link",
                "add",
                &host_if,
                "type",
                "veth",
                "peer",
                "name",
                "host",
                "netns",
                ul.name(),
            ],
        )?;
        ul.exec("ip", &["link", "set", "host", "master", "br0", "up"])?;
        run(
            "ip",
            &[
                "addr",
                "add",
                &format!("{}/24", host_addr(subnet)),
                "dev",
                &host_if,
            ],
        )?;
        run("ip", &["link", "set", &host_if, "up"])?;
        Ok(Fleet {
            providers,
            subnet,
            host_if,
            forwarders: Vec::new(),
            _underlay: ul,
        })
    }

    /// Makes `127.0.0.1:port` on the host reachable from every provider at
    /// `host_addr(subnet):port`; returns that address.
    pub fn forward_host_port(&mut self, port: u16) -> Result<SocketAddr> {
        let listen = SocketAddr::from((host_addr(self.subnet), port));
        let target = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        self.forwarders.push(Forwarder::start(listen, target)?);
        Ok(listen)
    }

    /// Underlay address of provider `i` (1-based).
    pub fn addr(&self, i: u8) -> Ipv4Addr {
        provider_addr(self.subnet, i)
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        self.forwarders.clear();
        let _ = run("ip", &["link", "del", &self.host_if]);
    }
}

/// A TCP forwarder thread; stops accepting when dropped.
struct Forwarder {
    stop: Arc<AtomicBool>,
    listen: SocketAddr,
}

impl Forwarder {
    fn start(listen: SocketAddr, target: SocketAddr) -> Result<Self> {
        let listener =
            TcpListener::bind(listen).with_context(|| format!("bind forwarder {listen}"))?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        thread::spawn(move || {
            for conn in listener.incoming() {
                if flag.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(inbound) = conn else { continue };
                let Ok(outbound) = TcpStream::connect(target) else {
                    continue;
                };
                pipe(inbound, outbound);
            }
        });
        Ok(Forwarder { stop, listen })
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.listen);
    }
}

/// Copies both directions between two sockets until either side closes.
fn pipe(a: TcpStream, b: TcpStream) {
    let (Ok(a2), Ok(b2)) = (a.try_clone(), b.try_clone()) else {
        return;
    };
    let copy = |mut from: TcpStream, mut to: TcpStream| {
        thread::spawn(move || {
            let _ = std::io::copy(&mut from, &mut to);
            let _ = to.shutdown(std::net::Shutdown::Both);
            let _ = from.shutdown(std::net::Shutdown::Both);
        });
    };
    copy(a, b2);
    copy(b, a2);
}
