#!/usr/bin/env bash
# Installs the wasm toolchain for the contracts on a fresh Debian machine (as
# root), skipping whatever is already there. Safe to run repeatedly.
#
# - Debian's rustc/cargo (`rustc-web`, `cargo-web`) with the std sources
#   (`rust-web-src`) build the contracts for wasm32 with `-Zbuild-std` and
#   `-C target-cpu=mvp`; `lld-19` provides wasm-ld.
# - `cosmwasm-check` 3.0.11 validates the artifacts; built once with the
#   Debian cargo into the cache directory below.
#
# wasm-opt is not used: Debian's binaryen (108) has no `--signext-lowering`,
# so the size comes from the release profile (opt-level z, LTO, strip).
set -euo pipefail

tools_root=${AVPN_TOOLS_ROOT:-/root/.cache/avpn/tools}
cosmwasm_check_version=3.0.11

pkgs=(rustc-web cargo-web rust-web-src lld-19 jq)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

for f in /usr/bin/rustc /usr/bin/cargo /usr/lib/llvm-19/bin/wasm-ld; do
  [ -x "$f" ] || { echo "install-toolchain: $f missing after installing ${pkgs[*]}" >&2; exit 1; }
done

check="$tools_root/bin/cosmwasm-check"
if [ -x "$check" ] && "$check" --version 2>/dev/null | grep -q " $cosmwasm_check_version\$"; then
  :
else
  echo "building cosmwasm-check $cosmwasm_check_version into $tools_root (takes ~10 min)"
  # opt-level 1: built in 588 s instead of 729 s on a 2-core VM, and checks
  # the two contracts as fast (0.36 s either way).
  CARGO_PROFILE_RELEASE_OPT_LEVEL=1 RUSTC=/usr/bin/rustc /usr/bin/cargo install cosmwasm-check \
    --version "$cosmwasm_check_version" --locked --root "$tools_root"
fi
echo "wasm toolchain ready: $(/usr/bin/rustc --version), $("$check" --version)"
