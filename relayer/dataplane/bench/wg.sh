# wg_pair IF_A IF_B PORT PREFIX (sourced by run.sh): configure two userspace
# WireGuard interfaces already being created in the lease namespaces (A in $LA,
# B in $LB) with `wg` through their UAPI sockets: fresh keys, each the other's
# only peer over the direct veth (198.18.1.1 <-> 198.18.1.2, UDP PORT),
# addresses PREFIX.1 and PREFIX.2/24; returns once a ping crosses the tunnel.
wg_pair() {
    local a=$1 b=$2 port=$3 net=$4 ka kb
    WG_SOCKETS+=("/var/run/wireguard/$a.sock" "/var/run/wireguard/$b.sock")
    wait_for 15 "WireGuard UAPI sockets of $a and $b" \
        test -S "/var/run/wireguard/$a.sock" -a -S "/var/run/wireguard/$b.sock"
    ka=$(wg genkey)
    kb=$(wg genkey)
    ip netns exec "$LA" wg set "$a" private-key <(echo "$ka") listen-port "$port" \
        peer "$(wg pubkey <<<"$kb")" allowed-ips "$net.2/32" endpoint "198.18.1.2:$port"
    ip netns exec "$LB" wg set "$b" private-key <(echo "$kb") listen-port "$port" \
        peer "$(wg pubkey <<<"$ka")" allowed-ips "$net.1/32" endpoint "198.18.1.1:$port"
    ip -n "$LA" addr add "$net.1/24" dev "$a"
    ip -n "$LA" link set "$a" up
    ip -n "$LB" addr add "$net.2/24" dev "$b"
    ip -n "$LB" link set "$b" up
    wait_for 15 "a ping through $a" ip netns exec "$LA" ping -c 1 -W 1 "$net.2"
}
