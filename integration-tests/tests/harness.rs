//! The harness cleans up after itself, even when a test panics.

use integration_tests::netns::{Netns, veth};
use integration_tests::require_root;

fn ns_exists(name: &str) -> bool {
    std::path::Path::new("/var/run/netns").join(name).exists()
}

#[test]
fn namespaces_are_removed_on_drop_and_on_panic() {
    if !require_root("namespaces_are_removed_on_drop_and_on_panic") {
        return;
    }
    {
        let a = Netns::new("avh-a").unwrap();
        let b = Netns::new("avh-b").unwrap();
        veth(&a, "va", "198.18.200.1/30", &b, "vb", "198.18.200.2/30").unwrap();
        a.exec("ping", &["-c1", "-W2", "198.18.200.2"]).unwrap();
        assert!(ns_exists("avh-a") && ns_exists("avh-b"));
    }
    assert!(!ns_exists("avh-a") && !ns_exists("avh-b"));

    let r = std::panic::catch_unwind(|| {
        let _c = Netns::new("avh-c").unwrap();
        panic!("test failure inside");
    });
    assert!(r.is_err());
    assert!(!ns_exists("avh-c"), "namespace left behind after a panic");
}

#[test]
fn fleet_providers_reach_each_other_and_the_host_forwarder() {
    use integration_tests::topology::Fleet;
    use std::io::Read;
    if !require_root("fleet_providers_reach_each_other_and_the_host_forwarder") {
        return;
    }
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    {
        let mut fleet = Fleet::new("avh-f", 250, 2).unwrap();
        let p2 = fleet.addr(2).to_string();
        fleet.providers[0]
            .exec("ping", &["-c1", "-W2", &p2])
            .unwrap();
        let fwd = fleet.forward_host_port(port).unwrap();
        let script = format!(
            "exec 3<>/dev/tcp/{}/{}; printf hello >&3",
            fwd.ip(),
            fwd.port()
        );
        fleet.providers[1].exec("bash", &["-c", &script]).unwrap();
        let (mut conn, _) = listener.accept().unwrap();
        let mut got = String::new();
        conn.read_to_string(&mut got).unwrap();
        assert_eq!(got, "hello");
    }
    for ns in ["avh-f-ul", "avh-f-p1", "avh-f-p2"] {
        assert!(!ns_exists(ns), "{ns} left behind");
    }
    assert!(
        !std::path::Path::new("/sys/class/net/avh-f-h").exists(),
        "host link left behind"
    );
}
