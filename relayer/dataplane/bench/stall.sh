#!/usr/bin/env bash
# Congestion controllers after an application-limited phase: for each
# controller in CCS, ROUNDS times: start the two userspace-mode relayers of
# the bench topology, run 200 one-byte SOCKS5 echoes 10 ms apart, then one
# iperf3 TCP stream (DUR s, through proxychains4 like run.sh's userspace
# path). Prints per controller the median Gbit/s and how many rounds moved
# less than a tenth of it ("stalled"). Why it exists: quinn's BBR stalled
# such transfers at a few Mbit/s now and then (4 of 23 rounds in two runs),
# CUBIC never (0 of 23), so CUBIC became the default; the stall did not show
# in the debug-build tests, only with release relayers under this sequence.
#
# Knobs: ROUNDS (10), DUR (3), CCS ("bbr cubic"). Root; ~10 s per round.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
cd "$root"
[ "$(id -u)" = 0 ] || {
    echo "run as root (namespaces, TUN)"
    exit 1
}
ROUNDS=${ROUNDS:-10} DUR=${DUR:-3} CCS=${CCS:-bbr cubic}
HZ=$(getconf CLK_TCK)
. "$here/lib.sh"
. "$here/paths/userspace.sh"
for tool in iperf3 proxychains4 jq; do
    command -v "$tool" >/dev/null || {
        echo "$tool is missing (bash integration-tests/install-deps.sh installs it)"
        exit 1
    }
done
cargo build --release -q -p avpn-dataplane --example dpbench
BIN=${CARGO_TARGET_DIR:-$root/target}/release/examples/dpbench

P=st$$
PA=${P}pa PB=${P}pb LA=${P}la LB=${P}lb
TMP=$(mktemp -d)
PIDS=() SERVER_PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}" "${SERVER_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    remove_namespaces
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
make_namespaces
iperf_server

for cc in $CCS; do
    : >"$TMP/$cc"
    # The relayers of up_userspace (run.sh's userspace path) read it.
    export AVPN_CONGESTION=$cc
    for ((r = 1; r <= ROUNDS; r++)); do
        up_userspace
        ip netns exec "$LA" "$BIN" tcprtt 127.0.0.1:1080 100.64.0.3:9000 200 10 >/dev/null
        IPERF_VIA=(proxychains4 -q -f "$TMP/proxychains.conf")
        out=$(iperf_json "$LA" -c 100.64.0.3 -p 5201 -t "$DUR")
        IPERF_VIA=()
        gbps=$(jq '.end.sum_received.bits_per_second / 1e9' <<<"$out" 2>/dev/null || echo 0)
        echo "${gbps:-0}" >>"$TMP/$cc"
        echo "$cc round $r/$ROUNDS: $gbps Gbit/s"
        down_userspace
    done
done

echo
printf '%-8s %7s %14s %8s\n' cc rounds "median Gbit/s" stalled
for cc in $CCS; do
    sort -g "$TMP/$cc" | awk -v cc="$cc" '{ a[NR] = $1 }
        END {
            m = a[int((NR + 1) / 2)]
            for (i = 1; i <= NR; i++) if (a[i] < m / 10) s++
            printf "%-8s %7d %14.2f %8d\n", cc, NR, m, s
        }'
done
