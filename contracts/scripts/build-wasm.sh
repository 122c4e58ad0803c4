#!/usr/bin/env bash
# Builds the contracts as optimized wasm32 artifacts and validates them.
#
# Output: contracts/artifacts/<crate>.wasm and contracts/artifacts/checksums.txt
# (sha256). Every artifact must pass `cosmwasm-check` with Akash's
# capabilities (no cosmwasm_3_0) and stay within 800 KiB.
#
# Recipe (DEVELOPERS.md): Debian's rustc with build-std and target-cpu=mvp, so
# the wasm uses only MVP features (no sign-ext, no bulk memory) that every
# CosmWasm runtime accepts. A separate target dir keeps these builds from
# invalidating the native (rustup) ones.
#
# Usage: build-wasm.sh [crate...]   (default: both contracts)
set -euo pipefail
contracts=$(cd "$(dirname "$0")/.." && pwd)
root=$(cd "$contracts/.." && pwd)

crates=("$@")
[ ${#crates[@]} -gt 0 ] || crates=(network-registry provider-directory)
capabilities=iterator,staking,stargate,cosmwasm_1_1,cosmwasm_1_2,cosmwasm_1_3,cosmwasm_1_4,cosmwasm_2_0,cosmwasm_2_1,cosmwasm_2_2
max_bytes=819200
check=${COSMWASM_CHECK:-/root/.cache/avpn/tools/bin/cosmwasm-check}
out="$contracts/artifacts"
target_dir="$root/target/wasm"

bash "$contracts/scripts/install-toolchain.sh" >/dev/null

export RUSTC=/usr/bin/rustc
export RUSTC_BOOTSTRAP=1
export RUSTFLAGS="-C target-cpu=mvp -C link-arg=--allow-undefined"
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER=/usr/lib/llvm-19/bin/wasm-ld
export CARGO_PROFILE_RELEASE_OPT_LEVEL=z
export CARGO_PROFILE_RELEASE_LTO=true
export CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1
export CARGO_PROFILE_RELEASE_PANIC=abort
export CARGO_PROFILE_RELEASE_STRIP=true
export CARGO_PROFILE_RELEASE_DEBUG=false
export CARGO_PROFILE_RELEASE_OVERFLOW_CHECKS=true

mkdir -p "$out"
cd "$root"
for crate in "${crates[@]}"; do
  echo "building $crate (wasm32, mvp)"
  /usr/bin/cargo build --release --locked --lib --target wasm32-unknown-unknown \
    -Zbuild-std=std,panic_abort --target-dir "$target_dir" -p "$crate"
  name=${crate//-/_}
  cp "$target_dir/wasm32-unknown-unknown/release/$name.wasm" "$out/$name.wasm"
done

cd "$out"
files=()
for crate in "${crates[@]}"; do files+=("${crate//-/_}.wasm"); done
sha256sum -- *.wasm > checksums.txt
fail=0
for f in "${files[@]}"; do
  size=$(stat -c %s "$f")
  echo "$f: $size bytes (limit $max_bytes)"
  if [ "$size" -gt "$max_bytes" ]; then
    echo "error: $f exceeds 800 KiB" >&2
    fail=1
  fi
done
"$check" --available-capabilities "$capabilities" "${files[@]}" 2>&1 | sed 's/^/  /' || fail=1
[ "$fail" = 0 ] || { echo "build-wasm: artifacts rejected" >&2; exit 1; }
cat checksums.txt
