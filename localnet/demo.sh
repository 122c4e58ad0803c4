#!/usr/bin/env bash
# The README's main command: builds what is missing, starts the localnet,
# deploys the contracts, runs two providers' relayers in network namespaces,
# creates a demo network with two members and shows traffic between them.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
[ "$(id -u)" = 0 ] || { echo "demo.sh must run as root (network namespaces, TUN)"; exit 1; }
bash integration-tests/install-deps.sh
echo "==> building the relayer and the demo driver (release)"
cargo build --release --locked -p avpn-relayer
cargo build --release --locked -p integration-tests --bin avpn-demo
target=${CARGO_TARGET_DIR:-$root/target}
export AVPN_RELAYER_BIN="$target/release/avpn-relayer"
exec "$target/release/avpn-demo"
