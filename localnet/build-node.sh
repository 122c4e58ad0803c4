#!/usr/bin/env bash
# Builds the chain node from the Go module proxy at a pinned release (no prebuilt
# downloads) into a cache; a second run is a no-op when the binary exists.
#
# The Akash node (pkg.akt.dev/node/v2) is not obtainable from this machine's Go
# module proxy (403 "module version is not available"), so we build the
# upstream CosmWasm chain it embeds, wasmd, from the same stack generation
# (cosmos-sdk v0.53, CometBFT v0.38, wasmvm v3) with Akash's address prefix
# `akash` compiled in. It has no Akash market/deployment modules.
#
# Output: $AVPN_CACHE/bin/wasmd-<version>-akash and libwasmvm next to it (the
# binary's rpath includes $ORIGIN, so the bin directory is self-contained).
set -euo pipefail

version=${WASMD_VERSION:-v0.61.14}
sonic=v1.15.5 # Go >= 1.26 cannot build the sonic v1.14.2 that wasmd pins
cache=${AVPN_CACHE:-/root/.cache/avpn}
src="$cache/wasmd-src-$version"
bin="$cache/bin/wasmd-$version-akash"

if [ -x "$bin" ] && "$bin" version >/dev/null 2>&1; then
  echo "$bin"
  exit 0
fi
command -v go >/dev/null || { echo "build-node: 'go' (>= 1.24) is missing: install it from https://go.dev/dl/ (or apt-get install golang-go on Debian 13+)" >&2; exit 1; }
gov=$(go env GOVERSION | sed 's/^go//')
[ "$(printf '%s\n1.24\n' "${gov%%-*}" | sort -V | head -1)" = 1.24 ] ||
  { echo "build-node: go $gov is too old, wasmd $version needs >= 1.24 (https://go.dev/dl/)" >&2; exit 1; }
command -v gcc >/dev/null || { echo "build-node: 'gcc' is missing (cgo links libwasmvm): apt-get install gcc" >&2; exit 1; }

start=$(date +%s)
echo "build-node: fetching github.com/CosmWasm/wasmd@$version from the Go module proxy" >&2
dir=$(go mod download -json "github.com/CosmWasm/wasmd@$version" | jq -r .Dir)
[ -d "$dir" ] || { echo "build-node: go mod download gave no directory" >&2; exit 1; }
if [ ! -f "$src/.copied" ]; then
  rm -rf "$src"
  mkdir -p "$src"
  cp -r "$dir/." "$src/"
  chmod -R u+w "$src"
  touch "$src/.copied"
fi
cd "$src"
if ! grep -q "github.com/bytedance/sonic $sonic" go.mod; then
  go get "github.com/bytedance/sonic@$sonic" >&2
fi
mkdir -p "$cache/bin"
echo "build-node: go build ./cmd/wasmd (several minutes when cold)" >&2
ldflags="-X github.com/cosmos/cosmos-sdk/version.Name=wasmd"
ldflags+=" -X github.com/cosmos/cosmos-sdk/version.AppName=wasmd"
ldflags+=" -X github.com/cosmos/cosmos-sdk/version.Version=$version-akash"
ldflags+=" -X github.com/CosmWasm/wasmd/app.Bech32Prefix=akash"
ldflags+=" -extldflags=-Wl,-rpath,\$ORIGIN"
go build -mod=mod -ldflags "$ldflags" -o "$bin.tmp" ./cmd/wasmd

# libwasmvm ships inside the wasmvm Go module; keep a copy next to the binary.
wasmvm=$(go list -mod=mod -m -f '{{.Dir}}' github.com/CosmWasm/wasmvm/v3)
cp "$wasmvm/internal/api/libwasmvm.$(uname -m).so" "$cache/bin/"
mv "$bin.tmp" "$bin"
if ldd "$bin" | grep -q "not found"; then
  echo "build-node: $bin has unresolved libraries:" >&2
  ldd "$bin" >&2
  exit 1
fi
"$bin" version >/dev/null
echo "build-node: built $bin in $(( $(date +%s) - start ))s" >&2
echo "$bin"
