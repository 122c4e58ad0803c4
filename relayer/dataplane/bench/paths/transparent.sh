# (b) avpn transparent mode: lease A TUN -> relayer A (provider namespace A) ->
# QUIC over the provider veth -> relayer B -> lease B TUN; 100.64.0.3 is lease B.
up_transparent() {
    bg node-a "$PA" "$BIN" node a transparent "/var/run/netns/$LA"
    bg node-b "$PB" "$BIN" node b transparent "/var/run/netns/$LB"
    wait_ready node-a
    wait_ready node-b
}
rep_transparent() { rep_tunnel transparent 100.64.0.3; }
down_transparent() { stop_path; }
