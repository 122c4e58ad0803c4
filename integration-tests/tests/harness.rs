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
