#!/usr/bin/env bash
# Lifecycle test of localnet on a throwaway home and free ports:
# fresh up (governance-stored contracts, mainnet wasm permissions, upload refused
# to an ordinary account), second up reuses the node, kill -9 + up resumes the
# same chain, synthetic leases are unique, changed artifacts are stored and
# migrated by governance, a taken port gives a clear message, down leaves no
# process. Prints the measured figures.
# Artifacts: copied from $AVPN_ARTIFACTS or contracts/artifacts (built if missing).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
work=$(mktemp -d /tmp/avpn-localnet-test.XXXXXX)
export AVPN_LOCALNET_HOME="$work/localnet"
# shellcheck source=lib.sh
. "$here/lib.sh"
use_free_ports
export AVPN_ARTIFACTS="$work/artifacts"
ln="$here/localnet"
listener=""
cleanup() {
  [ -z "$listener" ] || kill "$listener" 2>/dev/null || true
  "$ln" reset >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok: $*" >&2; }
# shellcheck disable=SC2009 # match the exact --home argument, not a pattern
node_procs() { ps -eo pid=,args= | grep -F -- "--home $AVPN_LOCALNET_HOME/node" | grep -v grep || true; }
# shellcheck disable=SC1091
envv() { (set -a; . "$AVPN_LOCALNET_HOME/env"; eval "echo \"\${$1}\""); }
height() { curl -sf "http://127.0.0.1:$AVPN_RPC_PORT/status" | jq -r .result.sync_info.latest_block_height; }
akash() { "$here/bin/akash" "$@"; }

# Artifacts: a private copy, so the migration step can change one.
src=${SRC_ARTIFACTS:-$root/contracts/artifacts}
if [ ! -f "$src/network_registry.wasm" ] || [ ! -f "$src/provider_directory.wasm" ]; then
  bash "$root/contracts/scripts/build-wasm.sh" >&2
fi
mkdir -p "$AVPN_ARTIFACTS"
cp "$src/network_registry.wasm" "$src/provider_directory.wasm" "$AVPN_ARTIFACTS/"

# 0. no node binary and no Go toolchain: up says exactly what is missing
if out=$(env PATH=/usr/bin:/bin AVPN_CACHE="$work/empty-cache" "$ln" up 2>&1); then
  fail "up succeeded without a node binary or Go"
fi
grep -q "'go' (>= 1.24) is missing" <<<"$out" || fail "unclear message without Go: $out"
[ ! -e "$AVPN_LOCALNET_HOME/node" ] || fail "a chain was initialised without a node binary"
pass "missing toolchain: $(tail -1 <<<"$out")"

# 1. fresh up
t0=$(date +%s%3N)
"$ln" up 2>"$work/up1.log" || { cat "$work/up1.log" >&2; fail "first up"; }
t_ready=$(($(date +%s%3N) - t0))
cat "$work/up1.log" >&2
first_block=$(grep -o 'producing blocks (height [0-9]*) after [0-9]*ms' "$work/up1.log" | grep -o '[0-9]*ms$')
gov=$(envv GOV)
registry=$(envv REGISTRY)
directory=$(envv DIRECTORY)
[[ $registry == akash1* && $directory == akash1* && $gov == akash1* ]] || fail "env lacks contract/gov addresses"
for c in "$registry" "$directory"; do
  [ "$(akash q wasm contract "$c" | jq -r .contract_info.admin)" = "$gov" ] || fail "wasm admin of $c is not gov"
done
for c in "$registry" "$directory"; do
  [ "$(akash q wasm contract-state smart "$c" '{"admin":{}}' | jq -r '.data.admin // .data')" = "$gov" ] ||
    fail "contract admin (InstantiateMsg.admin) of $c is not gov"
done
params=$(akash q wasm params)
[ "$(jq -r .code_upload_access.permission <<<"$params")" = Nobody ] || fail "code upload is not governance-only: $params"
[ "$(jq -r .instantiate_default_permission <<<"$params")" = Everybody ] || fail "instantiate is not open: $params"
codes=$(akash q wasm list-code | jq '.code_infos | length')
[ "$codes" = 2 ] || fail "expected 2 codes after the store proposal, got $codes"
[ "$(akash q gov proposals | jq '[.proposals[] | select(.status == "PROPOSAL_STATUS_PASSED")] | length')" = 1 ] ||
  fail "expected exactly one passed proposal"
[ "$(curl -sf "http://127.0.0.1:$AVPN_API_PORT/cosmos/base/tendermint/v1beta1/node_info" | jq -r .default_node_info.network)" = avpn-localnet ] ||
  fail "REST endpoint does not answer"
akash q bank balances "$(envv TENANT)" --grpc-addr "127.0.0.1:$AVPN_GRPC_PORT" --grpc-insecure |
  jq -e '.balances[] | select(.denom == "uakt")' >/dev/null || fail "gRPC endpoint does not answer"
# The shim talks to this localnet (its ports), not to another one on the default ports.
shim_h=$(akash status | jq -r .sync_info.latest_block_height)
rpc_h=$(height)
if [ $((rpc_h - shim_h)) -gt 3 ] || [ $((shim_h - rpc_h)) -gt 3 ]; then
  fail "akash status height $shim_h, this node $rpc_h"
fi
pid=$(cat "$AVPN_LOCALNET_HOME/node.pid")
listeners=$(ss -Hltunp | grep "pid=$pid," | awk '{print $5}')
[ "$(wc -l <<<"$listeners")" -ge 5 ] || fail "expected RPC, p2p, gRPC, REST, pprof listeners: $listeners"
grep -v '^127\.0\.0\.1:' <<<"$listeners" && fail "node listens outside 127.0.0.1"
pass "REST and gRPC answer; listeners only on 127.0.0.1: $(tr '\n' ' ' <<<"$listeners")"
pass "fresh up: contracts stored by governance, admin = gov ($gov), upload Nobody / instantiate Everybody"

# An ordinary account cannot upload code (attacker side of the permission).
if out=$(akash tx wasm store "$AVPN_ARTIFACTS/provider_directory.wasm" --from tenant --gas 5000000 \
  --gas-prices 0.025uakt -y 2>&1); then
  fail "tenant could store code: $out"
fi
grep -qi "unauthorized\|can not create code" <<<"$out" || fail "upload refused for another reason: $out"
[ "$(akash q wasm list-code | jq '.code_infos | length')" = 2 ] || fail "code count changed after refused upload"
pass "direct MsgStoreCode by tenant refused"

# 2. second up reuses the running node and redeploys nothing
pid1=$(cat "$AVPN_LOCALNET_HOME/node.pid")
"$ln" up 2>"$work/up2.log" || { cat "$work/up2.log" >&2; fail "second up"; }
grep -q "reusing running node (pid $pid1" "$work/up2.log" || fail "second up did not reuse the node: $(cat "$work/up2.log")"
[ "$(akash q wasm list-code | jq '.code_infos | length')" = 2 ] || fail "second up stored code again"
[ "$(envv REGISTRY)" = "$registry" ] || fail "second up changed the registry address"
pass "second up reused pid $pid1, no new code"

# Block time over the last blocks.
status=$("$ln" status)
block_ms=$(grep -o 'block time [0-9]*ms' <<<"$status" | grep -o '[0-9]*')
if [ -z "$block_ms" ] || [ "$block_ms" -gt 1000 ]; then fail "block time ${block_ms:-?}ms > 1s"; fi
pass "block time ${block_ms}ms"

# 3. kill -9, up resumes the same chain with its state
# A fresh ed25519 overlay key and its proof of possession (signature over
# avpn-provider-key/v1/{chain_id}/{contract}/{sender}/{hex key}), by openssl.
openssl genpkey -algorithm ed25519 -out "$work/overlay.pem" 2>/dev/null
openssl pkey -in "$work/overlay.pem" -pubout -outform DER | tail -c32 >"$work/overlay.pub"
printf 'avpn-provider-key/v1/%s/%s/%s/%s' "$(envv CHAIN_ID)" "$directory" "$(envv PROVIDER_1)" \
  "$(od -An -tx1 -v "$work/overlay.pub" | tr -d " \n")" >"$work/proof.txt"
openssl pkeyutl -sign -rawin -inkey "$work/overlay.pem" -in "$work/proof.txt" -out "$work/proof.sig"
akash tx wasm execute "$directory" \
  "{\"register\":{\"overlay_key\":\"$(base64 -w0 "$work/overlay.pub")\",\"signature\":\"$(base64 -w0 "$work/proof.sig")\",\"endpoints\":[\"198.18.0.1:4433\"],\"relay\":false}}" \
  --from provider-1 --gas auto --gas-adjustment 1.5 --gas-prices 0.025uakt -y >/dev/null || fail "register provider-1"
h_before=$(height)
kill -9 "$pid1"
while kill -0 "$pid1" 2>/dev/null; do sleep 0.05; done
"$ln" up 2>"$work/up3.log" || { cat "$work/up3.log" >&2; fail "up after kill -9"; }
pid2=$(cat "$AVPN_LOCALNET_HOME/node.pid")
[ "$pid2" != "$pid1" ] || fail "no new node process after kill -9"
h_after=$(height)
[ "$h_after" -gt "$h_before" ] || fail "height $h_after after restart is not beyond $h_before"
[ "$(envv REGISTRY)" = "$registry" ] || fail "registry address changed after restart"
[ "$(akash q wasm contract-state smart "$directory" "{\"provider\":{\"address\":\"$(envv PROVIDER_1)\"}}" |
  jq -r .data.endpoints[0])" = 198.18.0.1:4433 ] || fail "provider-1 registration lost after kill -9"
grep -q "storing\|instantiating" "$work/up3.log" && fail "up after kill -9 redeployed contracts"
pass "kill -9 + up resumed at height $h_after (was $h_before), state kept"

# 4. synthetic leases
l1=$("$ln" lease 2>/dev/null)
l2=$("$ln" lease --provider provider-2 2>/dev/null)
[[ $l1 =~ ^dseq=[0-9]+\ gseq=1\ oseq=1\ provider=akash1[a-z0-9]+$ ]] || fail "lease format: $l1"
[ "${l1%% *}" != "${l2%% *}" ] || fail "two leases share ${l1%% *}"
[[ $l2 == *"provider=$(envv PROVIDER_2)" ]] || fail "lease --provider provider-2: $l2"
note=$("$ln" lease 2>&1 >/dev/null)
grep -q SYNTHETIC <<<"$note" || fail "lease does not say it is synthetic: $note"
if out=$("$ln" lease --provider nobody 2>&1); then fail "lease for an unknown account: $out"; fi
grep -q "unknown account 'nobody'" <<<"$out" || fail "unclear lease error: $out"
if out=$("$ln" lease --provider akash1notanaddress 2>&1); then fail "lease for a bad address: $out"; fi
grep -q "not a valid address" <<<"$out" || fail "unclear lease error: $out"
pass "synthetic leases: $l1 / $l2; bad provider refused"

# 5. changed artifact: stored and migrated by governance, address kept
printf '\x00\x0a\x09avpn-test' >>"$AVPN_ARTIFACTS/provider_directory.wasm"
new_sum=$(sha256sum "$AVPN_ARTIFACTS/provider_directory.wasm" | cut -d' ' -f1)
"$ln" up 2>"$work/up4.log" || { cat "$work/up4.log" >&2; fail "up with a changed artifact"; }
grep -q migrating "$work/up4.log" || fail "no migration: $(cat "$work/up4.log")"
[ "$(envv DIRECTORY)" = "$directory" ] || fail "directory address changed by migration"
code=$(akash q wasm contract "$directory" | jq -r .contract_info.code_id)
[ "$(akash q wasm list-code | jq -r --arg id "$code" '.code_infos[] | select(.code_id == $id) | .data_hash | ascii_downcase')" = "$new_sum" ] ||
  fail "directory does not run the new code"
[ "$(akash q wasm contract-state smart "$directory" "{\"provider\":{\"address\":\"$(envv PROVIDER_1)\"}}" |
  jq -r .data.endpoints[0])" = 198.18.0.1:4433 ] || fail "state lost by migration"
pass "changed artifact stored + migrated by governance (code $code)"

# 6. down leaves no process behind and frees the ports
"$ln" down 2>/dev/null
[ -z "$(node_procs)" ] || fail "processes left after down: $(node_procs)"
ss -Hltn "sport = :$AVPN_RPC_PORT" | grep -q . && fail "RPC port still listening after down"
pass "down left no process"

# 7. a taken port gives a clear message and starts nothing
python3 -c 'import socket,sys,time
s=socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(); time.sleep(600)' "$AVPN_RPC_PORT" &
listener=$!
deadline=$((SECONDS + 10))
until ss -Hltn "sport = :$AVPN_RPC_PORT" | grep -q .; do
  [ $SECONDS -lt $deadline ] || fail "test listener did not start"
  sleep 0.05
done
if out=$("$ln" up 2>&1); then fail "up succeeded with RPC port taken"; fi
grep -q "port $AVPN_RPC_PORT (RPC) is already in use" <<<"$out" || fail "unclear message: $out"
grep -q "AVPN_RPC_PORT" <<<"$out" || fail "message does not name the variable: $out"
[ -z "$(node_procs)" ] || fail "a node was started despite the taken port"
kill "$listener"
wait "$listener" 2>/dev/null || true
listener=""
pass "taken port: $(head -1 <<<"$out")"

# 8. two concurrent ups after a clean down: both succeed, one node, same chain
"$ln" up 2>"$work/up5.log" &
other=$!
"$ln" up 2>"$work/up6.log" || { cat "$work/up6.log" >&2; fail "concurrent up"; }
wait "$other" || { cat "$work/up5.log" >&2; fail "concurrent up (background)"; }
[ "$(node_procs | wc -l)" = 1 ] || fail "concurrent ups started $(node_procs | wc -l) nodes"
[ "$(height)" -gt "$h_after" ] || fail "up after down did not resume"
[ "$(envv REGISTRY)" = "$registry" ] || fail "registry address changed after down/up"
"$ln" down 2>/dev/null
[ -z "$(node_procs)" ] || fail "processes left after final down"
pass "two concurrent ups after down: one node, chain resumed; final down clean"

echo "figures: up (fresh) to first block ${first_block:-?}, to contracts ready ${t_ready}ms; block time ${block_ms}ms" >&2
echo "test-localnet: PASS" >&2
