#!/usr/bin/env bash
# The whole test suite, as README.md and CI run it. Installs what is missing,
# then: formatting, lints, API docs, wasm artifacts + cosmwasm-check, schema freshness,
# unit/property/netns tests, the real wasm in cosmwasm-vm with gas figures,
# the localnet with README examples, the end-to-end tests, and a short run of
# every fuzz target.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

step() { printf '\n==> %s (%ss)\n' "$*" "$SECONDS"; }

[ "$(id -u)" = 0 ] || { echo "run-all.sh must run as root (network namespaces, TUN)"; exit 1; }

step "install toolchain and system packages"
bash integration-tests/install-deps.sh

export CARGO_TERM_COLOR=never
# Builds are cached outside the checkout so a fresh clone (CI) reuses them.
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/avpn/target}
export AVPN_RELAYER_BIN="$CARGO_TARGET_DIR/debug/avpn-relayer"
step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo doc -D warnings (no broken or private links in the API docs)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked

step "wasm artifacts + cosmwasm-check"
bash contracts/scripts/build-wasm.sh

step "schema is up to date"
bash contracts/scripts/check-schema.sh

step "localnet up (real chain node, contracts stored by governance)"
bash localnet/localnet up
trap 'bash localnet/localnet down || true' EXIT

step "README tenant examples against the localnet"
bash localnet/test-readme-examples.sh

step "cargo test (unit, property, VM, netns, localnet, end-to-end)"
cargo build --locked -p avpn-relayer
cargo test --workspace --locked -- --test-threads=1

step "fuzz targets, short run (every decoder of untrusted bytes, 30,000 executions each)"
CARGO_TARGET_DIR=$HOME/.cache/avpn/target-fuzz bash relayer/dataplane/fuzz/run.sh

step "benchmarks (figures printed)"
bash integration-tests/bench-all.sh

step "localnet behaviour (idempotent up, restart, ports, down)"
bash localnet/test-localnet.sh

step "done"
