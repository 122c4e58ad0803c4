# (c) avpn userspace mode: SOCKS5 in lease A -> QUIC stream -> serve mapping in
# lease B. iperf3 speaks SOCKS5 through proxychains4 (LD_PRELOAD: its connect()
# becomes a SOCKS5 CONNECT to 127.0.0.1:1080, then its data goes straight over
# that connection, as with an application that supports SOCKS itself). No UDP
# (iperf3's UDP test needs a TCP control connection and UDP ASSOCIATE, which
# proxychains does not do) and no ping: the RTT is a 1-byte TCP echo through
# SOCKS5 at the same cadence as the pings; plus TCP connections/s through SOCKS5.
up_userspace() {
    bg node-a "$PA" "$BIN" node a userspace "/var/run/netns/$LA"
    bg node-b "$PB" "$BIN" node b userspace "/var/run/netns/$LB"
    bg echo "$LB" "$BIN" echo 127.0.0.1:9000
    wait_ready node-a
    wait_ready node-b
    wait_ready echo
    printf 'strict_chain\nquiet_mode\n[ProxyList]\nsocks5 127.0.0.1 1080\n' >"$TMP/proxychains.conf"
}
rep_userspace() {
    local p50 p99 conns fail
    read -r p50 p99 < <(ip netns exec "$LA" "$BIN" tcprtt 127.0.0.1:1080 100.64.0.3:9000 "$RTT_COUNT" 10)
    record userspace rtt50 "$p50"
    record userspace rtt99 "$p99"
    read -r p50 p99 < <(ip netns exec "$LA" "$BIN" tcprtt 127.0.0.1:1080 100.64.0.3:9000 "$RTT_WARM_COUNT" 1)
    record userspace rtt50w "$p50"
    record userspace rtt99w "$p99"
    IPERF_VIA=(proxychains4 -q -f "$TMP/proxychains.conf")
    tcp userspace "$LA" 100.64.0.3 5201
    IPERF_VIA=()
    read -r conns fail < <(ip netns exec "$LA" "$BIN" connrate 127.0.0.1:1080 100.64.0.3:9000 "$CONN_DUR" 32)
    record userspace conns "$conns"
    record userspace connfail "$fail"
}
down_userspace() { stop_path; }
