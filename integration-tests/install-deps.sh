#!/usr/bin/env bash
# Installs everything the demo and the tests need on a fresh Debian machine,
# skipping what is already there. Safe to run repeatedly.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

pkgs=(iperf3 nftables wireguard-tools redis-server redis-tools jq iproute2 iputils-ping procps curl ca-certificates chromium dnsmasq-base proxychains4)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# redis-server's package starts a system instance; the tests run their own.
systemctl disable --now redis-server >/dev/null 2>&1 || true

command -v cargo >/dev/null || { echo "cargo (rustup stable 1.95) is required and missing"; exit 1; }
command -v go >/dev/null || { echo "go is required to build the chain node and is missing"; exit 1; }
rustup component list --installed 2>/dev/null | grep -q clippy || rustup component add clippy rustfmt

# The chain node, built from the Go module proxy (cached), in the background:
# on a cold machine its Go build and the Rust tool builds below each leave a
# core idle much of the time, so running them side by side saves minutes.
node_log=$(mktemp)
bash "$root/localnet/localnet" build >"$node_log" 2>&1 &
node_build=$!
trap 'kill "$node_build" 2>/dev/null || true; rm -f "$node_log"' EXIT

# cargo-fuzz for the data plane's fuzz targets (relayer/dataplane/fuzz/run.sh
# runs them on the stable toolchain with RUSTC_BOOTSTRAP=1). Built once into
# the cache directory, like cosmwasm-check.
tools_root=${AVPN_TOOLS_ROOT:-$HOME/.cache/avpn/tools}
cargo_fuzz_version=0.13.2
if ! "$tools_root/bin/cargo-fuzz" fuzz --version 2>/dev/null | grep -q " $cargo_fuzz_version\$"; then
  echo "building cargo-fuzz $cargo_fuzz_version into $tools_root (takes ~1 min)"
  env -u CARGO_TARGET_DIR \
    cargo install cargo-fuzz --version "$cargo_fuzz_version" --locked --root "$tools_root"
fi

# Wasm toolchain (Debian rustc for mvp wasm, lld, cosmwasm-check).
bash "$root/contracts/scripts/install-toolchain.sh"

node_rc=0
wait "$node_build" || node_rc=$?
cat "$node_log"
[ "$node_rc" = 0 ] || { echo "building the chain node failed (exit $node_rc)"; exit "$node_rc"; }
