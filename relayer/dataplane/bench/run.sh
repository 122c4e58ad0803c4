#!/usr/bin/env bash
# Data-plane benchmark (run as root). Between two lease namespaces, over the
# same veth where a path is a tunnel, it measures
#   (a) direct veth between the leases (the reference),
#   (b) avpn transparent mode (lease A TUN -> relayer A -> QUIC over a veth
#       between provider namespaces -> relayer B -> lease B TUN),
#   (c) avpn userspace mode (SOCKS5 in lease A -> QUIC stream -> serve
#       mapping in lease B; iperf3 speaks SOCKS5 through proxychains4),
#   (d) boringtun (userspace WireGuard) over (a)'s veth,
#   (e) wireguard-go (userspace WireGuard with TUN offloads) over (a)'s veth,
# and prints for every path, as min / median / max over REPS repetitions with
# the ratios of the medians to direct and to wireguard-go:
#   - TCP Gbit/s, one stream and 4 streams (iperf3 -P 4), DUR s each;
#   - UDP Gbit/s at the loss-free rate: the highest received rate with loss
#     <= UDP_LOSS %, searched with at most UDP_PROBES iperf3 -u runs of
#     UDP_DUR s (as fast as the sender goes, then bisection), datagrams of
#     UDP_LEN bytes on every path (fits the smallest tunnel MTU, 1420);
#   - RTT p50 / p99 in µs from the per-packet times of RTT_COUNT pings 10 ms
#     apart (userspace: 1-byte TCP echoes through SOCKS5 at the same cadence),
#     and of RTT_WARM_COUNT pings 1 ms apart (the "warm" RTT), next to this
#     machine's wake-up latency (two threads ping-ponging over pipes, on
#     different CPUs and on one) that bounds how low an idle RTT can go;
#   - CPU seconds per GB moved during the single-stream run: busy time of the
#     WHOLE machine (user+nice+system+irq+softirq of all cores, /proc/stat
#     delta around the iperf3 run) divided by the bytes received. Same method
#     for every path, so kernel work (softirq of the veth and TCP stacks) and
#     both iperf3 ends count everywhere; steal and idle do not.
# plus TCP connections/s through userspace SOCKS5, ns per policy decision with
# 10,000 rules, and whether the targets (issue 9 and earlier) are met; a missed
# target is reported, never an error. Relayers run as separate processes in
# the provider namespaces. Everything created (namespaces, processes, TUN
# devices, WireGuard sockets) is removed on exit, failure included.
#
# Knobs (environment):                                           default
#   DUR         seconds per TCP run                                    3
#   REPS        repetitions of every measurement                       3
#   UDP_DUR     seconds per UDP probe                                  1
#   UDP_PROBES  UDP runs per repetition (search bound)                 5
#   UDP_LOSS    loss % still counted as loss-free                    0.1
#   UDP_LEN     UDP payload bytes                                   1380
#   UDP_WIN     UDP socket buffers of both iperf3 ends (-w; without it the
#               default 208 KiB loses bursts even on the direct veth)  4M
#   RTT_COUNT   pings (echoes) per RTT measurement, 10 ms apart      200
#   RTT_WARM_COUNT  pings (echoes) 1 ms apart, the warm RTT           1000
#   CONN_DUR    seconds per connections/s run (userspace)              2
#   PATHS       paths to run (subset of: direct wggo boringtun transparent userspace)
# With the defaults a run takes about 4 minutes on a 2-core VM once built.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
cd "$root"
[ "$(id -u)" = 0 ] || {
    echo "run as root (namespaces, TUN)"
    exit 1
}
DUR=${DUR:-3} REPS=${REPS:-3}
UDP_DUR=${UDP_DUR:-1} UDP_PROBES=${UDP_PROBES:-5} UDP_LOSS=${UDP_LOSS:-0.1} UDP_LEN=${UDP_LEN:-1380} UDP_WIN=${UDP_WIN:-4M}
RTT_COUNT=${RTT_COUNT:-200} RTT_WARM_COUNT=${RTT_WARM_COUNT:-1000} CONN_DUR=${CONN_DUR:-2}
PATHS=${PATHS:-direct wggo boringtun transparent userspace}
HZ=$(getconf CLK_TCK)
started=$SECONDS

# Tools, cached across runs in $TOOLS.
TOOLS=/root/.cache/avpn/tools
export PATH="$TOOLS/bin:$PATH:/usr/local/go/bin"
WIREGUARD_GO_VERSION=v0.0.0-20260522210424-ecfc5a8d5446 # golang.zx2c4.com/wireguard, from the Go module proxy
missing=()
for tool in iperf3:iperf3 wg:wireguard-tools jq:jq ping:iputils-ping proxychains4:proxychains4; do
    command -v "${tool%%:*}" >/dev/null || missing+=("${tool#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
command -v boringtun-cli >/dev/null || cargo install boringtun-cli --root "$TOOLS"
if [ "$(cat "$TOOLS/bin/wireguard-go.version" 2>/dev/null)" != "$WIREGUARD_GO_VERSION" ] ||
    [ ! -x "$TOOLS/bin/wireguard-go" ]; then
    GOBIN="$TOOLS/bin" go install "golang.zx2c4.com/wireguard@$WIREGUARD_GO_VERSION"
    mv "$TOOLS/bin/wireguard" "$TOOLS/bin/wireguard-go"
    echo "$WIREGUARD_GO_VERSION" >"$TOOLS/bin/wireguard-go.version"
fi
cargo build --release -q -p avpn-dataplane --example dpbench
# shellcheck disable=SC2034 # used by paths/*.sh
BIN=${CARGO_TARGET_DIR:-$root/target}/release/examples/dpbench

# shellcheck source=lib.sh
. "$here/lib.sh"
# shellcheck source=wg.sh
. "$here/wg.sh"
# shellcheck source=report.sh
. "$here/report.sh"
for f in "$here"/paths/*.sh; do
    # shellcheck source=/dev/null
    . "$f"
done

P=avb$$
PA=${P}pa PB=${P}pb LA=${P}la LB=${P}lb
TMP=$(mktemp -d)
RES=$TMP/results
mkdir -p "$RES"
PIDS=() SERVER_PIDS=() WG_SOCKETS=()
cleanup() {
    local p
    for p in "${PIDS[@]}" "${SERVER_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    remove_namespaces
    rm -f "${WG_SOCKETS[@]}"
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

make_namespaces
# The leases' own link: the direct path, and the WireGuard baselines' underlay.
veth d0 "$LA" 198.18.1.1/24 "$LB" 198.18.1.2/24
# One iperf3 server in lease B for every path.
iperf_server

# Rounds: every path once per repetition, so that each repetition measures
# all paths within a minute or two of each other. This VM's speed drifts by
# tens of percent over minutes (steal time); measuring one path's
# repetitions back to back let that drift into the ratios between paths.
for ((rep = 1; rep <= REPS; rep++)); do
    for id in $PATHS; do
        echo "== $id: repetition $rep/$REPS ($((SECONDS - started)) s)"
        "up_$id"
        "rep_$id"
        "down_$id"
    done
done

echo "== wake-up latency"
WAKE_CROSS=$("$BIN" wakeup 20000 0 1 | awk '{ print $1 }') || true # needs two CPUs
WAKE_SAME=$("$BIN" wakeup 20000 0 0 | awk '{ print $1 }') || true

echo "== policy decision cost"
POLICY=$(cargo bench -q -p avpn-dataplane --bench policy 2>/dev/null | tee "$TMP/policy.log" | awk '/^POLICY_NS/ {print $2}')
grep -E "^policy decision" "$TMP/policy.log" || true

echo
echo "REPS=$REPS DUR=${DUR}s UDP: <= $UDP_PROBES probes of ${UDP_DUR}s, loss <= $UDP_LOSS %, ${UDP_LEN}-byte datagrams, -w $UDP_WIN; RTT: $RTT_COUNT samples 10 ms apart, $RTT_WARM_COUNT 1 ms apart"
echo "CPU per GB: whole-machine busy seconds (/proc/stat user+nice+system+irq+softirq) during the 1-stream run / GB received"
report
echo
echo "benchmark time: $((SECONDS - started)) s"
