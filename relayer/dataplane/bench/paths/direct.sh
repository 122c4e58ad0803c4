# (a) direct veth between the two lease namespaces (made by run.sh): the reference.
# Its connections/s (a client in lease A straight to an echo server in lease
# B, no proxy) is the baseline of userspace's connections/s through SOCKS5.
up_direct() {
    bg echo-direct "$LB" "$BIN" echo 198.18.1.2:9001
    wait_ready echo-direct
}
rep_direct() {
    local conns fail
    rep_tunnel direct 198.18.1.2
    read -r conns fail < <(ip netns exec "$LA" "$BIN" connrate direct 198.18.1.2:9001 "$CONN_DUR" 32)
    record direct conns "$conns"
    record direct connfail "$fail"
}
down_direct() { stop_path; }
