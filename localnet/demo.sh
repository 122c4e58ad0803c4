#!/usr/bin/env bash
# The README's main command: builds what is missing, starts the localnet,
# deploys the contracts, runs two providers' relayers in network namespaces,
# creates a demo network with two members (each bound to a lease of the tenant
# by its full id, with the provider's attachment file naming owner and bseq)
# and shows traffic between them.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
[ "$(id -u)" = 0 ] || { echo "demo.sh must run as root (network namespaces, TUN)"; exit 1; }
bash integration-tests/install-deps.sh
# Builds are cached outside the checkout (as run-all.sh does).
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/avpn/target}
echo "==> building the relayer, the tenant CLI and the demo driver (release)"
cargo build --release --locked -p avpn-relayer -p avpn-tenant-cli
cargo build --release --locked -p integration-tests --bin avpn-demo
export AVPN_RELAYER_BIN="$CARGO_TARGET_DIR/release/avpn-relayer"
export AVPN_CLI_BIN="$CARGO_TARGET_DIR/release/avpn"
exec "$CARGO_TARGET_DIR/release/avpn-demo"
