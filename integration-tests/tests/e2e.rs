//! End to end on the real localnet: tenants' transactions become enforced
//! traffic between leases on simulated providers (network namespaces).
//!
//! Needs root; run one scenario with `cargo test -p integration-tests --test e2e <name>`.

use std::time::Duration;

use integration_tests::require_root;
use integration_tests::traffic::{iperf_client, iperf_server, ping_ok, redis_cli, redis_server};
use integration_tests::world::World;

const ATTACH: Duration = Duration::from_secs(30);

#[test]
fn s1_members_on_two_providers_exchange_ping_iperf_and_redis() {
    if !require_root("s1") {
        return;
    }
    let mut w = World::new("e2e1", 11, 2).unwrap();
    w.start_relayer(1).unwrap();
    w.start_relayer(2).unwrap();
    let net = w.create_network("tenant", "s1", "100.64.1.0/24", &["app"], true).unwrap();
    let a = w.lease(1, "mode = \"transparent\"").unwrap();
    let b = w.lease(2, "mode = \"transparent\"").unwrap();
    let ip_a = w.add_member("tenant", net, "web", &a, &["app"]).unwrap();
    let ip_b = w.add_member("tenant", net, "redis", &b, &["app"]).unwrap();
    assert_ne!(ip_a, ip_b);
    w.wait_attached(&a, ip_a, ATTACH).unwrap();
    w.wait_attached(&b, ip_b, ATTACH).unwrap();

    integration_tests::poll::until("ping web → redis", Duration::from_secs(20), Duration::from_millis(200), || {
        ping_ok(&a.ns, ip_b, 1).then_some(())
    })
    .unwrap_or_else(|e| panic!("{e:#}\nrelayer 1:\n{}\nrelayer 2:\n{}", w.log_tail(1), w.log_tail(2)));
    assert!(ping_ok(&b.ns, ip_a, 2), "ping redis → web");

    let _srv = iperf_server(&b.ns, ip_b, 5201).unwrap();
    let bps = iperf_client(&a.ns, ip_b, 5201, 2).unwrap();
    println!("s1: iperf3 web → redis over the overlay: {:.2} Gbit/s", bps / 1e9);
    assert!(bps > 1e6, "iperf3 throughput {bps} bit/s");

    let _redis = redis_server(&b.ns, ip_b, 6379).unwrap();
    assert_eq!(redis_cli(&a.ns, ip_b, 6379, &["set", "greeting", "hello-over-avpn"]).unwrap(), "OK");
    assert_eq!(redis_cli(&a.ns, ip_b, 6379, &["get", "greeting"]).unwrap(), "hello-over-avpn");
}
