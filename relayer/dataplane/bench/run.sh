#!/usr/bin/env bash
# Data-plane benchmark (run as root): prints, from one run, iperf3 single-
# stream throughput and ping RTT p50 between two lease namespaces for
#   (a) a direct veth between the leases,
#   (b) avpn transparent mode (lease A TUN -> relayer A -> QUIC over a veth
#       between provider namespaces -> relayer B -> lease B TUN),
#   (c) avpn userspace mode (SOCKS5 in lease A -> QUIC stream -> serve
#       mapping in lease B; iperf3 through a local SOCKS forwarder),
#   (d) boringtun (userspace WireGuard) between the leases over (a)'s veth,
# ratios to direct and to boringtun, TCP connections/s through userspace
# mode, and ns per policy decision with 10,000 rules; then which targets
# are met. Relayers run as separate processes inside the provider
# namespaces. DUR=seconds per iperf3 run (default 5).
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
cd "$root"
[ "$(id -u)" = 0 ] || { echo "run as root (namespaces, TUN)"; exit 1; }
TOOLS=/root/.cache/avpn/tools
export PATH="$TOOLS/bin:$PATH"
DUR=${DUR:-5}

command -v iperf3 >/dev/null || apt-get install -y iperf3 >/dev/null
command -v wg >/dev/null || apt-get install -y wireguard-tools >/dev/null
command -v jq >/dev/null || apt-get install -y jq >/dev/null
command -v boringtun-cli >/dev/null || cargo install boringtun-cli --root "$TOOLS"
cargo build --release -q -p avpn-dataplane --example dpbench
BIN=${CARGO_TARGET_DIR:-$root/target}/release/examples/dpbench

P=avb$$
PA=${P}pa PB=${P}pb LA=${P}la LB=${P}lb
TMP=$(mktemp -d)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for ns in $PA $PB $LA $LB; do
        for p in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null || true; done
        ip netns del "$ns" 2>/dev/null || true
    done
    rm -rf "$TMP"
}
trap cleanup EXIT

for ns in $PA $PB $LA $LB; do ip netns add "$ns"; ip -n "$ns" link set lo up; done
ip link add u0 netns "$PA" type veth peer name u0 netns "$PB"
ip -n "$PA" addr add 198.18.0.1/24 dev u0; ip -n "$PA" link set u0 up
ip -n "$PB" addr add 198.18.0.2/24 dev u0; ip -n "$PB" link set u0 up
ip link add d0 netns "$LA" type veth peer name d0 netns "$LB"
ip -n "$LA" addr add 198.18.1.1/24 dev d0; ip -n "$LA" link set d0 up
ip -n "$LB" addr add 198.18.1.2/24 dev d0; ip -n "$LB" link set d0 up

# bg NAME NS CMD...: start a background process inside NS.
bg() { local name=$1 ns=$2; shift 2; ip netns exec "$ns" "$@" >"$TMP/$name.log" 2>&1 & PIDS+=($!); }
# wait_ready NAME: until the process printed "ready" (20 s at most).
wait_ready() {
    for _ in $(seq 200); do grep -q ready "$TMP/$1.log" 2>/dev/null && return 0; sleep 0.1; done
    echo "$1 not ready:"; cat "$TMP/$1.log"; exit 1
}
stop_all() { for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done; PIDS=(); }
# gbps NS HOST [PORT]: iperf3 single stream, received Gbit/s.
gbps() {
    local out
    for _ in 1 2 3 4 5; do
        out=$(ip netns exec "$1" iperf3 -c "$2" -p "${3:-5201}" -t "$DUR" -J 2>/dev/null || true)
        if jq -e '.end.sum_received.bits_per_second' <<<"$out" >/dev/null 2>&1; then
            jq '.end.sum_received.bits_per_second / 1e9' <<<"$out"; return
        fi
        sleep 0.3
    done
    echo 0
}
# p50 NS HOST: ping RTT median in microseconds.
p50() {
    ip netns exec "$1" ping -c 400 -i 0.005 -W 1 "$2" | grep -o 'time=[0-9.]*' | cut -d= -f2 | sort -n |
        awk '{a[NR]=$1} END {if (NR==0) print "nan"; else printf "%.0f", a[int((NR+1)/2)]*1000}'
}

bg iperf-server "$LB" iperf3 -s -p 5201

echo "== (a) direct veth"
A_G=$(gbps "$LA" 198.18.1.2); A_R=$(p50 "$LA" 198.18.1.2)

echo "== (b) avpn transparent"
bg node-a "$PA" "$BIN" node a transparent "/var/run/netns/$LA"
bg node-b "$PB" "$BIN" node b transparent "/var/run/netns/$LB"
wait_ready node-a; wait_ready node-b
B_G=$(gbps "$LA" 100.64.0.3); B_R=$(p50 "$LA" 100.64.0.3)
stop_all
bg iperf-server "$LB" iperf3 -s -p 5201

echo "== (c) avpn userspace"
bg node-a "$PA" "$BIN" node a userspace "/var/run/netns/$LA"
bg node-b "$PB" "$BIN" node b userspace "/var/run/netns/$LB"
bg echo "$LB" "$BIN" echo 127.0.0.1:9000
wait_ready node-a; wait_ready node-b; wait_ready echo
bg forward "$LA" "$BIN" forward 127.0.0.1:5202 127.0.0.1:1080 100.64.0.3:5201
wait_ready forward
C_G=$(gbps "$LA" 127.0.0.1 5202)
C_R=$(ip netns exec "$LA" "$BIN" tcprtt 127.0.0.1:1080 100.64.0.3:9000 2000)
read -r CONNS CONN_FAIL < <(ip netns exec "$LA" "$BIN" connrate 127.0.0.1:1080 100.64.0.3:9000 3 32)
stop_all
bg iperf-server "$LB" iperf3 -s -p 5201

echo "== (d) boringtun"
KA=$(wg genkey); KB=$(wg genkey)
bg bt-a "$LA" env WG_SUDO=1 boringtun-cli --foreground --disable-drop-privileges wg-$P-a
bg bt-b "$LB" env WG_SUDO=1 boringtun-cli --foreground --disable-drop-privileges wg-$P-b
for _ in $(seq 100); do [ -S "/var/run/wireguard/wg-$P-a.sock" ] && [ -S "/var/run/wireguard/wg-$P-b.sock" ] && break; sleep 0.1; done
ip netns exec "$LA" wg set "wg-$P-a" private-key <(echo "$KA") listen-port 51820 \
    peer "$(wg pubkey <<<"$KB")" allowed-ips 100.80.0.2/32 endpoint 198.18.1.2:51820
ip netns exec "$LB" wg set "wg-$P-b" private-key <(echo "$KB") listen-port 51820 \
    peer "$(wg pubkey <<<"$KA")" allowed-ips 100.80.0.1/32 endpoint 198.18.1.1:51820
ip -n "$LA" addr add 100.80.0.1/24 dev "wg-$P-a"; ip -n "$LA" link set "wg-$P-a" up
ip -n "$LB" addr add 100.80.0.2/24 dev "wg-$P-b"; ip -n "$LB" link set "wg-$P-b" up
D_G=$(gbps "$LA" 100.80.0.2); D_R=$(p50 "$LA" 100.80.0.2)

echo "== policy decision cost"
POLICY=$(cargo bench -q -p avpn-dataplane --bench policy 2>/dev/null | tee "$TMP/policy.log" | awk '/^POLICY_NS/ {print $2}')
grep -E "^policy decision" "$TMP/policy.log" || true

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
met() { if awk "BEGIN { exit !($1) }"; then echo MET; else echo "NOT MET"; fi; }
echo
echo "path                    Gbit/s  vs direct  vs boringtun  RTT p50 (us)"
printf "(a) direct veth         %6.2f  %9s  %12s  %s (ping)\n" "$A_G" 1.00 "$(ratio "$A_G" "$D_G")" "$A_R"
printf "(b) avpn transparent    %6.2f  %9s  %12s  %s (ping)\n" "$B_G" "$(ratio "$B_G" "$A_G")" "$(ratio "$B_G" "$D_G")" "$B_R"
printf "(c) avpn userspace      %6.2f  %9s  %12s  %s (TCP 1-byte echo via SOCKS5)\n" "$C_G" "$(ratio "$C_G" "$A_G")" "$(ratio "$C_G" "$D_G")" "$C_R"
printf "(d) boringtun           %6.2f  %9s  %12s  %s (ping)\n" "$D_G" "$(ratio "$D_G" "$A_G")" 1.00 "$D_R"
echo "userspace TCP connections/s: $CONNS (failed: $CONN_FAIL)"
echo "policy decision with 10,000 rules: $POLICY ns"
ADDED=$(awk -v b="$B_R" -v a="$A_R" 'BEGIN { printf "%.0f", b - a }')
echo
echo "targets:"
echo "  (b) >= 25% of (a):         $(ratio "$B_G" "$A_G") -> $(met "$B_G >= 0.25 * $A_G")"
echo "  (b) ahead of (d):          $B_G vs $D_G -> $(met "$B_G > $D_G")"
echo "  (c) >= 2 Gbit/s:           $C_G -> $(met "$C_G >= 2")"
echo "  added RTT p50 <= 100 us:   $ADDED us -> $(met "$ADDED <= 100")"
echo "  >= 5,000 conn/s:           $CONNS -> $(met "$CONNS >= 5000")"
echo "  <= 100 ns/decision:        $POLICY -> $(met "$POLICY <= 100")"
