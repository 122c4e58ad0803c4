# Shared settings and helpers of the localnet scripts (sourced, not executed).
# shellcheck shell=bash disable=SC2034  # settings are used by the scripts sourcing this

LN_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LN_ROOT=$(cd "$LN_DIR/.." && pwd)

LN_HOME=${AVPN_LOCALNET_HOME:-/root/.avpn-localnet}
NODE_HOME="$LN_HOME/node"
NODE_LOG="$LN_HOME/node.log"
NODE_PID="$LN_HOME/node.pid"
ENV_FILE="$LN_HOME/env"
CONTRACTS_FILE="$LN_HOME/contracts.json"
PORTS_FILE="$LN_HOME/ports"

CHAIN_ID=avpn-localnet
DENOM=uakt
GAS_PRICES=${AVPN_GAS_PRICES:-0.025uakt}
WASMD_VERSION=${WASMD_VERSION:-v0.61.14}
AVPN_CACHE=${AVPN_CACHE:-/root/.cache/avpn}
NODE_BIN=${AVPN_NODE_BIN:-$AVPN_CACHE/bin/wasmd-$WASMD_VERSION-akash}
ACCOUNTS=(validator tenant tenant-b provider-1 provider-2 provider-3)

die() { echo "localnet: $*" >&2; exit 1; }
say() { echo "localnet: $*" >&2; }

# Ports: the environment wins; otherwise those the chain was last started with;
# otherwise the defaults.
load_ports() {
  local saved_rpc="" saved_grpc="" saved_api="" saved_p2p="" saved_pprof=""
  if [ -f "$PORTS_FILE" ]; then
    # shellcheck disable=SC1090
    . "$PORTS_FILE"
  fi
  RPC_PORT=${AVPN_RPC_PORT:-${saved_rpc:-26657}}
  GRPC_PORT=${AVPN_GRPC_PORT:-${saved_grpc:-9090}}
  API_PORT=${AVPN_API_PORT:-${saved_api:-1317}}
  P2P_PORT=${AVPN_P2P_PORT:-${saved_p2p:-26656}}
  PPROF_PORT=${AVPN_PPROF_PORT:-${saved_pprof:-6060}}
  RPC_URL="tcp://127.0.0.1:$RPC_PORT"
  Q_FLAGS="--node $RPC_URL --home $NODE_HOME -o json"
  TX_BASE="--chain-id $CHAIN_ID --node $RPC_URL --keyring-backend test --home $NODE_HOME --gas-prices $GAS_PRICES --broadcast-mode sync -y -o json"
  TX_FLAGS="$TX_BASE --gas auto --gas-adjustment 1.5"
}

save_ports() {
  printf 'saved_rpc=%s\nsaved_grpc=%s\nsaved_api=%s\nsaved_p2p=%s\nsaved_pprof=%s\n' \
    "$RPC_PORT" "$GRPC_PORT" "$API_PORT" "$P2P_PORT" "$PPROF_PORT" >"$PORTS_FILE"
}

# The pid of this home's node if it is running, else nothing (exit 1).
node_pid() {
  local pid
  [ -f "$NODE_PID" ] || return 1
  pid=$(cat "$NODE_PID")
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "--home $NODE_HOME" || return 1
  echo "$pid"
}

rpc_height() {
  curl -sf --max-time 2 "http://127.0.0.1:$RPC_PORT/status" | jq -er '.result.sync_info.latest_block_height' 2>/dev/null
}

q() { "$NODE_BIN" q "$@" --node "$RPC_URL" --home "$NODE_HOME" -o json; }

# Waits until tx HASH is in a block; prints its result JSON; fails on a non-zero code.
wait_tx() {
  local hash=$1 deadline=$((SECONDS + ${AVPN_TX_TIMEOUT:-30})) res code
  while :; do
    if res=$("$NODE_BIN" q tx "$hash" --node "$RPC_URL" --home "$NODE_HOME" -o json 2>/dev/null); then
      code=$(jq -r '.code // 0' <<<"$res")
      if [ "$code" != 0 ]; then
        echo "tx $hash failed (code $code): $(jq -r .raw_log <<<"$res")" >&2
        return 1
      fi
      echo "$res"
      return 0
    fi
    [ $SECONDS -lt "$deadline" ] || { echo "tx $hash not included within ${AVPN_TX_TIMEOUT:-30}s" >&2; return 1; }
    sleep 0.2
  done
}

# Broadcasts `NODE_BIN tx ARGS...` (sync), waits for inclusion, prints the result JSON.
# TX_GAS overrides the gas flags (default: simulate, x1.5).
tx() {
  local out hash code err
  err=$(mktemp)
  # shellcheck disable=SC2086
  if ! out=$("$NODE_BIN" tx "$@" $TX_BASE ${TX_GAS:---gas auto --gas-adjustment 1.5} 2>"$err"); then
    echo "tx $*: broadcast failed: $(grep -v '^gas estimate' "$err") $out" >&2
    rm -f "$err"
    return 1
  fi
  rm -f "$err"
  hash=$(jq -er '.txhash' <<<"$out") || { echo "tx $*: unexpected output: $out" >&2; return 1; }
  code=$(jq -r '.code // 0' <<<"$out")
  [ "$code" = 0 ] || { echo "tx $*: rejected (code $code): $(jq -r .raw_log <<<"$out")" >&2; return 1; }
  wait_tx "$hash"
}

# Value of event attribute KEY of event TYPE in a tx result JSON on stdin.
event_attr() {
  jq -r --arg t "$1" --arg k "$2" '[.events[] | select(.type == $t) | .attributes[] | select(.key == $k) | .value][0] // empty'
}

addr_of() { "$NODE_BIN" keys show "$1" -a --keyring-backend test --home "$NODE_HOME"; }

# Exports AVPN_*_PORT for a block of 5 consecutive free ports (for tests that
# must not collide with another localnet), starting the search at a random base.
use_free_ports() {
  local base tries=0 p busy
  while [ $tries -lt 50 ]; do
    base=$((20000 + (RANDOM % 2000) * 5))
    busy=0
    for p in $(seq "$base" $((base + 4))); do
      ss -Hltn "sport = :$p" | grep -q . && busy=1
    done
    if [ $busy = 0 ]; then
      export AVPN_RPC_PORT=$base AVPN_P2P_PORT=$((base + 1)) AVPN_GRPC_PORT=$((base + 2))
      export AVPN_API_PORT=$((base + 3)) AVPN_PPROF_PORT=$((base + 4))
      return 0
    fi
    tries=$((tries + 1))
  done
  die "no 5 consecutive free ports found"
}
