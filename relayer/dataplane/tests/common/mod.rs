//! Namespaces, two-provider worlds and helpers for the netns tests.
#![allow(dead_code)]

pub mod raw_peer;
pub mod relayed;
pub mod three;
pub mod v6;

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use avpn_dataplane::{Overlay, OverlayConfig};
use avpn_model::{
    Attachment, AttachmentMode, Change, DataPlane, LeaseId, MemberInfo, NetworkInfo, OverlayKey,
    PeerInfo, PeerSelector, Policy, PortRange, Protocol, Rule, Verdict,
};
use prometheus_client::registry::Registry;

/// True when running as root (namespaces and TUN need it).
pub fn is_root() -> bool {
    // SAFETY: getuid has no preconditions.
    unsafe { libc::getuid() == 0 }
}

/// Skips the calling test with a visible message when not root.
#[macro_export]
macro_rules! require_root {
    () => {
        if !common::is_root() {
            eprintln!("SKIPPED: needs root (network namespaces, TUN)");
            return;
        }
    };
}

/// Runs a command, panicking on failure.
pub fn run_ok(args: &[&str]) {
    run(args)
}

fn run(args: &[&str]) {
    let out = Command::new(args[0])
        .args(&args[1..])
        .stdin(Stdio::null())
        .output()
        .expect("spawn");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A network namespace removed (with its processes) on drop.
#[derive(Debug)]
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn new(name: &str) -> Netns {
        let _ = Command::new("ip")
            .args(["netns", "del", name])
            .stderr(Stdio::null())
            .status();
        run(&["ip", "netns", "add", name]);
        let ns = Netns {
            name: name.to_owned(),
        };
        ns.exec(&["ip", "link", "set", "lo", "up"]);
        ns
    }

    pub fn path(&self) -> PathBuf {
        PathBuf::from("/var/run/netns").join(&self.name)
    }

    pub fn exec(&self, args: &[&str]) {
        let mut full = vec!["ip", "netns", "exec", &self.name];
        full.extend_from_slice(args);
        run(&full);
    }

    pub fn output(&self, args: &[&str]) -> String {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.name])
            .args(args)
            .output()
            .expect("spawn");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// An async command inside the namespace.
    pub fn command(&self, program: &str) -> tokio::process::Command {
        let mut c = tokio::process::Command::new("ip");
        c.args(["netns", "exec", &self.name, program])
            .stdin(Stdio::null())
            .kill_on_drop(true);
        c
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        if let Ok(out) = Command::new("ip")
            .args(["netns", "pids", &self.name])
            .output()
        {
            for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                let _ = Command::new("kill").args(["-9", pid]).status();
            }
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// Connects two namespaces with a veth pair.
pub fn veth(a: &Netns, a_addr: &str, b: &Netns, b_addr: &str) {
    run(&[
        "ip", "link", "add", "u0", "netns", &a.name, "type", "veth", "peer", "name", "u0", "netns",
        &b.name,
    ]);
    a.exec(&["ip", "addr", "add", a_addr, "dev", "u0"]);
    b.exec(&["ip", "addr", "add", b_addr, "dev", "u0"]);
    a.exec(&["ip", "link", "set", "u0", "up"]);
    b.exec(&["ip", "link", "set", "u0", "up"]);
}

/// Unique namespace names for one test.
pub fn ns_name(test: &str, role: &str) -> String {
    format!("avt-{test}-{}-{role}", std::process::id())
}

/// Owner of the test networks (and of every member's lease).
pub const OWNER: &str = "akash1tenant";
pub const PA: &str = "akash1providera";
pub const PB: &str = "akash1providerb";
pub const SEED_A: [u8; 32] = [1; 32];
pub const SEED_B: [u8; 32] = [2; 32];
pub const UNDERLAY_A: &str = "198.18.0.1";
pub const UNDERLAY_B: &str = "198.18.0.2";
pub const PORT: u16 = 7400;

pub fn key_of(seed: [u8; 32]) -> [u8; 32] {
    avpn_dataplane::identity::Identity::from_seed(&seed)
        .unwrap()
        .public_key()
}

pub fn peer(provider: &str, seed: [u8; 32], ip: &str) -> PeerInfo {
    PeerInfo {
        provider: provider.to_owned(),
        keys: vec![OverlayKey {
            key: key_of(seed),
            valid_until: None,
        }],
        endpoints: vec![SocketAddr::new(ip.parse().unwrap(), PORT)],
    }
}

pub fn network(id: u64, cidr: &str, default_verdict: Verdict) -> NetworkInfo {
    NetworkInfo {
        id,
        name: format!("net{id}"),
        owner: OWNER.to_owned(),
        revision: 1,
        cidr: cidr.parse().unwrap(),
        cidr6: None,
        default_verdict,
    }
}

pub fn member(name: &str, ip: &str, provider: &str, policy: Policy) -> MemberInfo {
    MemberInfo {
        name: name.to_owned(),
        ip: ip.parse().unwrap(),
        ip6: None,
        lease: LeaseId {
            owner: OWNER.to_owned(),
            dseq: 1,
            gseq: 1,
            oseq: 1,
            provider: provider.to_owned(),
            bseq: 1,
        },
        tags: BTreeSet::new(),
        service: None,
        policy,
        weight: None,
    }
}

pub fn rule(proto: Protocol, ports: (u16, u16), verdict: Verdict) -> Rule {
    Rule {
        peers: PeerSelector::Any,
        protocol: proto,
        ports: PortRange::new(ports.0, ports.1).unwrap(),
        verdict,
    }
}

pub fn open_policy() -> Policy {
    Policy {
        ingress: vec![rule(Protocol::Any, (0, 65535), Verdict::Allow)],
        egress: vec![rule(Protocol::Any, (0, 65535), Verdict::Allow)],
    }
}

pub fn transparent(ns: &Netns) -> Attachment {
    Attachment {
        netns: ns.path(),
        mode: AttachmentMode::Transparent,
    }
}

pub fn userspace(ns: &Netns, socks: &str, serve: &[(u16, &str)]) -> Attachment {
    Attachment {
        netns: ns.path(),
        mode: AttachmentMode::Userspace {
            socks: socks.parse().unwrap(),
            serve: serve
                .iter()
                .map(|(p, a)| (*p, a.parse().unwrap()))
                .collect::<BTreeMap<_, _>>(),
            serve_udp: BTreeMap::new(),
        },
    }
}

/// Two providers joined by a veth underlay, each with one lease namespace,
/// and an overlay per provider running in this process.
pub struct World {
    pub a: Overlay,
    pub b: Overlay,
    pub registry_a: Registry,
    pub registry_b: Registry,
    // Dropped after the overlays (fields drop in declaration order).
    pub lease_a: Netns,
    pub lease_b: Netns,
    pub prov_a: Netns,
    pub prov_b: Netns,
}

impl World {
    pub async fn new(test: &str) -> World {
        World::with_mtu(test, 1500, None).await
    }

    /// A world whose relayers are told the underlay MTU is `underlay_mtu`
    /// while the provider link really carries `link_mtu` (default 1500).
    pub async fn with_mtu(test: &str, underlay_mtu: u16, link_mtu: Option<u16>) -> World {
        let prov_a = Netns::new(&ns_name(test, "pa"));
        let prov_b = Netns::new(&ns_name(test, "pb"));
        let lease_a = Netns::new(&ns_name(test, "la"));
        let lease_b = Netns::new(&ns_name(test, "lb"));
        veth(
            &prov_a,
            &format!("{UNDERLAY_A}/24"),
            &prov_b,
            &format!("{UNDERLAY_B}/24"),
        );
        if let Some(mtu) = link_mtu {
            for ns in [&prov_a, &prov_b] {
                ns.exec(&["ip", "link", "set", "u0", "mtu", &mtu.to_string()]);
            }
        }
        let mut registry_a = Registry::default();
        let mut registry_b = Registry::default();
        let mut cfg = OverlayConfig::new(
            SocketAddr::new(UNDERLAY_A.parse().unwrap(), PORT),
            SEED_A,
            PA.into(),
            &mut registry_a,
        );
        cfg.underlay_netns = Some(prov_a.path());
        cfg.underlay_mtu = underlay_mtu;
        let mut a = Overlay::start(cfg).expect("start a");
        let mut cfg = OverlayConfig::new(
            SocketAddr::new(UNDERLAY_B.parse().unwrap(), PORT),
            SEED_B,
            PB.into(),
            &mut registry_b,
        );
        cfg.underlay_netns = Some(prov_b.path());
        cfg.underlay_mtu = underlay_mtu;
        let mut b = Overlay::start(cfg).expect("start b");
        a.apply(Change::SetPeer(peer(PB, SEED_B, UNDERLAY_B)))
            .await
            .unwrap();
        b.apply(Change::SetPeer(peer(PA, SEED_A, UNDERLAY_A)))
            .await
            .unwrap();
        World {
            a,
            b,
            registry_a,
            registry_b,
            lease_a,
            lease_b,
            prov_a,
            prov_b,
        }
    }

    /// Applies the same change to both overlays.
    pub async fn both(&mut self, c: Change) {
        self.a.apply(c.clone()).await.unwrap();
        self.b.apply(c).await.unwrap();
    }

    /// For tests of two networks on the same two providers: attaches, in
    /// transparent mode, members `a1` (provider A) and `b1` (provider B) of
    /// network 1 to the world's leases and `a2`/`b2` of network 2 to two new
    /// lease namespaces, which it returns (A's, then B's), and waits for the
    /// peers. The networks and members must be set already.
    pub async fn attach_twins(&mut self, test: &str) -> (Netns, Netns) {
        let la2 = Netns::new(&ns_name(test, "la2"));
        let lb2 = Netns::new(&ns_name(test, "lb2"));
        let leases = [
            (1, "a1", &self.lease_a, true),
            (1, "b1", &self.lease_b, false),
            (2, "a2", &la2, true),
            (2, "b2", &lb2, false),
        ];
        for (net, name, lease, on_a) in leases {
            let o = if on_a { &mut self.a } else { &mut self.b };
            o.apply(Change::Attach(net, name.into(), transparent(lease)))
                .await
                .unwrap();
        }
        self.connected().await;
        (la2, lb2)
    }

    /// Waits until both overlays report a connected peer.
    pub async fn connected(&self) {
        until("peers connected", Duration::from_secs(10), || {
            let ok = |o: &Overlay| {
                o.status()
                    .peers
                    .iter()
                    .all(|p| p.state == avpn_dataplane::PeerState::Connected)
            };
            (ok(&self.a) && ok(&self.b)).then_some(())
        })
        .await;
    }
}

/// Packets received by interface `dev` in `ns` (for a TUN: the packets
/// the relayer wrote into it).
pub fn rx_packets(ns: &Netns, dev: &str) -> u64 {
    ns.output(&[
        "cat",
        &format!("/sys/class/net/{dev}/statistics/rx_packets"),
    ])
    .trim()
    .parse()
    .unwrap()
}

/// Polls `check` every 20 ms until it returns `Some`, panicking after `within`.
pub async fn until<T>(what: &str, within: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {within:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub fn drops(o: &Overlay, reason: &str) -> u64 {
    o.status().drops.get(reason).copied().unwrap_or(0)
}

/// The value of the data plane's counter `name` (as registered, without
/// the `avpn_dataplane_` prefix and `_total` suffix) in `registry`.
pub fn counter(registry: &Registry, name: &str) -> u64 {
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, registry).unwrap();
    let prefix = format!("avpn_dataplane_{name}_total ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix)?.parse().ok())
        .unwrap_or(0)
}

pub fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

/// Opens a SOCKS5 CONNECT from inside `worker`'s namespace to an IPv4 or
/// IPv6 `target`, or `name:port` (ATYP 3); returns the stream and the reply code.
pub async fn socks_connect(
    worker: &avpn_dataplane::netns::NetnsWorker,
    proxy: &str,
    target: &str,
) -> (tokio::net::TcpStream, u8) {
    use avpn_dataplane::socks::{Command as SocksCommand, Greeting, Reply, Request, Target};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = worker
        .tcp_connect(proxy.parse().unwrap())
        .await
        .expect("proxy reachable");
    s.write_all(&Greeting { methods: vec![0] }.encode())
        .await
        .unwrap();
    let mut m = [0u8; 2];
    s.read_exact(&mut m).await.unwrap();
    assert_eq!(m, [5, 0]);
    let target = match target.parse() {
        Ok(SocketAddr::V4(a)) => Target::V4(a),
        Ok(SocketAddr::V6(a)) => Target::V6(*a.ip(), a.port()),
        Err(_) => {
            let (name, port) = target.rsplit_once(':').expect("name:port");
            Target::Domain(name.as_bytes().to_vec(), port.parse().unwrap())
        }
    };
    let req = Request {
        command: SocksCommand::Connect,
        target,
    };
    s.write_all(&req.encode()).await.unwrap();
    // The bound address is IPv4 (10 bytes in all) or IPv6 (22).
    let mut r = vec![0u8; 4];
    s.read_exact(&mut r).await.unwrap();
    r.resize(if r[3] == 4 { 22 } else { 10 }, 0);
    s.read_exact(&mut r[4..]).await.unwrap();
    let code = Reply::decode(&r).unwrap();
    (s, code)
}

/// Builds an ICMP echo request with valid checksums.
pub fn icmp_echo(src: Ipv4Addr, dst: Ipv4Addr, id: u16) -> Vec<u8> {
    fn sum(d: &[u8]) -> u16 {
        let mut s: u32 = d
            .chunks(2)
            .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
            .sum();
        while s > 0xffff {
            s = (s & 0xffff) + (s >> 16);
        }
        !(s as u16)
    }
    let mut p = vec![0u8; 20 + 16];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&36u16.to_be_bytes());
    p[8] = 64;
    p[9] = 1;
    p[12..16].copy_from_slice(&src.octets());
    p[16..20].copy_from_slice(&dst.octets());
    let c = sum(&p[..20]);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    p[20] = 8;
    p[24..26].copy_from_slice(&id.to_be_bytes());
    p[26..28].copy_from_slice(&1u16.to_be_bytes());
    let c = sum(&p[20..]);
    p[22..24].copy_from_slice(&c.to_be_bytes());
    p
}

/// A raw QUIC endpoint speaking as the holder of `seed`, with its UDP
/// socket inside `ns` (a hostile or impostor relayer).
pub async fn raw_endpoint(
    ns: &Netns,
    seed: [u8; 32],
    trusted: &[(&str, [u8; 32])],
    bind: &str,
) -> quinn::Endpoint {
    raw_endpoint_diverting(ns, seed, trusted, bind).await.0
}

/// A raw endpoint and what its socket diverts ([`raw_endpoint_diverting`]).
pub type Diverting = (
    quinn::Endpoint,
    tokio::sync::mpsc::UnboundedReceiver<Vec<u8>>,
    std::sync::Arc<dyn quinn::AsyncUdpSocket>,
);

/// [`raw_endpoint`], with the sealed datagrams it receives handed to the
/// returned channel ([`raw_peer`]), and its socket to send raw datagrams.
pub async fn raw_endpoint_diverting(
    ns: &Netns,
    seed: [u8; 32],
    trusted: &[(&str, [u8; 32])],
    bind: &str,
) -> Diverting {
    use avpn_dataplane::identity::{Identity, TrustStore, client_tls, server_tls};
    use avpn_model::OverlayKey;
    use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
    use std::sync::Arc;
    let id = Identity::from_seed(&seed).unwrap();
    let trust = Arc::new(TrustStore::default());
    for (p, k) in trusted {
        trust.set_peer(
            &p.to_string(),
            &[OverlayKey {
                key: *k,
                valid_until: None,
            }],
        );
    }
    let server = quinn::ServerConfig::with_crypto(Arc::new(
        QuicServerConfig::try_from(server_tls(&id, trust.clone()).unwrap()).unwrap(),
    ));
    let client = quinn::ClientConfig::new(Arc::new(
        QuicClientConfig::try_from(client_tls(&id, trust).unwrap()).unwrap(),
    ));
    let worker = avpn_dataplane::netns::NetnsWorker::spawn(&ns.path()).unwrap();
    let bind: SocketAddr = bind.parse().unwrap();
    let sock = worker
        .run(move || std::net::UdpSocket::bind(bind))
        .await
        .unwrap()
        .unwrap();
    use quinn::Runtime;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let inner = quinn::TokioRuntime.wrap_udp_socket(sock).unwrap();
    let divert = raw_peer::Divert {
        inner: inner.clone(),
        tx,
    };
    // Like a relayer's, its QUIC packets keep the fixed bit that tells
    // them from sealed datagrams, and so do the peer's packets to it.
    let mut config = quinn::EndpointConfig::default();
    config.grease_quic_bit(false);
    let mut ep = quinn::Endpoint::new_with_abstract_socket(
        config,
        Some(server),
        Arc::new(divert),
        Arc::new(quinn::TokioRuntime),
    )
    .unwrap();
    ep.set_default_client_config(client);
    (ep, rx, inner)
}

/// Provider C: a raw QUIC endpoint run by the test (see [`raw_endpoint`]).
pub const PC: &str = "akash1providerc";
pub const SEED_C: [u8; 32] = [3; 32];

/// Makes provider C host `member` of network 1 in B's view, makes C a
/// trusted peer of B and connects C to B from provider A's namespace.
pub async fn connect_provider_c(w: &mut World, member: MemberInfo) -> raw_peer::RawPeer {
    w.b.apply(Change::SetMember(1, member)).await.unwrap();
    w.b.apply(Change::SetPeer(PeerInfo {
        provider: PC.into(),
        keys: vec![OverlayKey {
            key: key_of(SEED_C),
            valid_until: None,
        }],
        endpoints: vec![],
    }))
    .await
    .unwrap();
    let raw =
        raw_endpoint_diverting(&w.prov_a, SEED_C, &[(PB, key_of(SEED_B))], "198.18.0.1:0").await;
    let to = format!("{UNDERLAY_B}:{PORT}").parse().unwrap();
    raw_peer::connect(raw, to, key_of(SEED_C) < key_of(SEED_B)).await
}

/// Network `net` with member `a` hosted and attached (`att_a`, in lease
/// A) by provider A and member `b` (`att_b`, lease B) by provider B, both
/// providers connected.
pub async fn attach_pair(
    w: &mut World,
    net: NetworkInfo,
    (a, att_a): (MemberInfo, fn(&Netns) -> Attachment),
    (b, att_b): (MemberInfo, fn(&Netns) -> Attachment),
) {
    let id = net.id;
    w.both(Change::SetNetwork(net)).await;
    let (name_a, name_b) = (a.name.clone(), b.name.clone());
    w.both(Change::SetMember(id, a)).await;
    w.both(Change::SetMember(id, b)).await;
    let (att_a, att_b) = (att_a(&w.lease_a), att_b(&w.lease_b));
    w.a.apply(Change::Attach(id, name_a, att_a)).await.unwrap();
    w.b.apply(Change::Attach(id, name_b, att_b)).await.unwrap();
    w.connected().await;
}

/// Network 1 (100.64.0.0/24, default deny) with transparent members `a`
/// (100.64.0.2, open policy, lease A on provider A) and `b` (100.64.0.3,
/// `policy_b`, lease B on provider B), attached and connected.
pub async fn attach_transparent_pair(w: &mut World, policy_b: Policy) {
    attach_pair(
        w,
        network(1, "100.64.0.0/24", Verdict::Deny),
        (member("a", "100.64.0.2", PA, open_policy()), transparent),
        (member("b", "100.64.0.3", PB, policy_b), transparent),
    )
    .await;
}

/// A userspace attachment with served TCP (`serve`) and UDP (`serve_udp`)
/// ports.
pub fn userspace_udp(
    ns: &Netns,
    socks: &str,
    serve: &[(u16, &str)],
    serve_udp: &[(u16, &str)],
) -> Attachment {
    let map = |ports: &[(u16, &str)]| {
        ports
            .iter()
            .map(|(p, a)| (*p, a.parse().unwrap()))
            .collect::<BTreeMap<_, _>>()
    };
    Attachment {
        netns: ns.path(),
        mode: AttachmentMode::Userspace {
            socks: socks.parse().unwrap(),
            serve: map(serve),
            serve_udp: map(serve_udp),
        },
    }
}

/// A SOCKS5 UDP association opened from inside `worker`'s namespace.
pub struct SocksUdp {
    /// The control connection: the association lives as long as it.
    pub control: tokio::net::TcpStream,
    /// The client's datagram socket (127.0.0.1, ephemeral port).
    pub socket: tokio::net::UdpSocket,
    /// The relay address from the proxy's reply.
    pub relay: SocketAddr,
}

/// Opens a UDP association through the proxy at `proxy`; the request
/// names 0.0.0.0:0 (the first datagram fixes the client's port).
pub async fn socks_udp_associate(
    worker: &avpn_dataplane::netns::NetnsWorker,
    proxy: &str,
) -> SocksUdp {
    use avpn_dataplane::socks::{Command as SocksCommand, Greeting, Reply, Request, Target};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut control = worker
        .tcp_connect(proxy.parse().unwrap())
        .await
        .expect("proxy reachable");
    control
        .write_all(&Greeting { methods: vec![0] }.encode())
        .await
        .unwrap();
    let mut m = [0u8; 2];
    control.read_exact(&mut m).await.unwrap();
    assert_eq!(m, [5, 0]);
    let req = Request {
        command: SocksCommand::UdpAssociate,
        target: Target::V4("0.0.0.0:0".parse().unwrap()),
    };
    control.write_all(&req.encode()).await.unwrap();
    let mut r = [0u8; 10];
    control.read_exact(&mut r).await.unwrap();
    assert_eq!(Reply::decode(&r).unwrap(), 0, "UDP ASSOCIATE succeeded");
    let relay = SocketAddr::from(([r[4], r[5], r[6], r[7]], u16::from_be_bytes([r[8], r[9]])));
    let socket = worker
        .udp_bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    SocksUdp {
        control,
        socket,
        relay,
    }
}

impl SocksUdp {
    /// Sends `payload` to `dst` through the relay.
    pub async fn send(&self, dst: &str, payload: &[u8]) {
        use avpn_dataplane::socks::{Target, UdpHeader};
        let target = match dst.parse().unwrap() {
            SocketAddr::V4(a) => Target::V4(a),
            SocketAddr::V6(a) => Target::V6(*a.ip(), a.port()),
        };
        let mut d = UdpHeader { frag: 0, target }.encode();
        d.extend_from_slice(payload);
        self.socket.send_to(&d, self.relay).await.unwrap();
    }

    /// The next relayed datagram (source and payload) within `within`.
    pub async fn recv(&self, within: Duration) -> Option<(SocketAddr, Vec<u8>)> {
        use avpn_dataplane::socks::{Target, UdpHeader};
        let mut buf = vec![0u8; 65536];
        let (n, from) = tokio::time::timeout(within, self.socket.recv_from(&mut buf))
            .await
            .ok()?
            .unwrap();
        assert_eq!(from, self.relay, "datagrams come from the relay");
        let (h, at) = UdpHeader::decode(&buf[..n]).expect("relay header");
        assert_eq!(h.frag, 0);
        let src = match h.target {
            Target::V4(a) => SocketAddr::V4(a),
            Target::V6(ip, port) => SocketAddr::from((ip, port)),
            Target::Domain(..) => panic!("an address source expected: {h:?}"),
        };
        Some((src, buf[at..n].to_vec()))
    }
}

/// A DNS query for the A record of `name` with id `id` (recursion desired).
pub fn dns_query(id: u16, name: &str) -> Vec<u8> {
    let mut q = Vec::new();
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    q
}

/// The first A record of a DNS response to query `id` (no error, at
/// least one answer), or `None`.
pub fn dns_answer(resp: &[u8], id: u16) -> Option<Ipv4Addr> {
    fn skip_name(b: &[u8], mut at: usize) -> Option<usize> {
        loop {
            let len = *b.get(at)?;
            match len {
                0 => return Some(at + 1),
                l if l & 0xc0 == 0xc0 => return Some(at + 2),
                l => at += 1 + usize::from(l),
            }
        }
    }
    let word = |at: usize| Some(u16::from_be_bytes([*resp.get(at)?, *resp.get(at + 1)?]));
    let flags = word(2)?;
    if word(0)? != id || flags & 0x8000 == 0 || flags & 0x000f != 0 || word(4)? != 1 {
        return None;
    }
    let mut at = skip_name(resp, 12)? + 4;
    for _ in 0..word(6)? {
        at = skip_name(resp, at)?;
        let (rtype, rdlen) = (word(at)?, usize::from(word(at + 8)?));
        at += 10;
        let rdata = resp.get(at..at + rdlen)?;
        if rtype == 1 && rdlen == 4 {
            return Some(Ipv4Addr::new(rdata[0], rdata[1], rdata[2], rdata[3]));
        }
        at += rdlen;
    }
    None
}

/// The name the test resolvers answer, and its address.
pub const DNS_NAME: &str = "db.avpn.test";
pub const DNS_ADDR: &str = "100.64.0.77";

/// Starts dnsmasq in `ns` answering [`DNS_NAME`] on `listen` (it must
/// exist in `ns`) and `port`; it is killed on drop and with the namespace.
pub fn dnsmasq(ns: &Netns, listen: &str, port: u16) -> tokio::process::Child {
    ns.command("dnsmasq")
        .args([
            "--keep-in-foreground",
            "--conf-file=/dev/null",
            "--pid-file",
            "--user=root",
            "--no-resolv",
            "--no-hosts",
            "--bind-interfaces",
            &format!("--listen-address={listen}"),
            &format!("--port={port}"),
            &format!("--address=/{DNS_NAME}/{DNS_ADDR}"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("dnsmasq (integration-tests/install-deps.sh installs dnsmasq-base)")
}

/// A UDP echo server in `worker`'s namespace on `addr`, a task of the
/// test's runtime.
pub async fn udp_echo(worker: &avpn_dataplane::netns::NetnsWorker, addr: &str) {
    // A new IPv6 address is usable once the kernel finished bringing it
    // up (duplicate address detection runs after the TUN is up).
    let deadline = Instant::now() + Duration::from_secs(5);
    let s = loop {
        match worker.udp_bind(addr.parse().unwrap()).await {
            Ok(s) => break s,
            Err(e)
                if e.kind() == std::io::ErrorKind::AddrNotAvailable
                    && Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(20)).await
            }
            Err(e) => panic!("udp echo on {addr}: {e}"),
        }
    };
    tokio::spawn(async move {
        let mut buf = vec![0u8; 65536];
        while let Ok((n, from)) = s.recv_from(&mut buf).await {
            let _ = s.send_to(&buf[..n], from).await;
        }
    });
}
