# (d) boringtun (userspace WireGuard, no TUN offloads) between the leases over
# the direct veth: wg-$P-a (100.80.0.1, lease A) <-> wg-$P-b (100.80.0.2, lease B), UDP 51820.
up_boringtun() {
    BT_A=wg-$P-a BT_B=wg-$P-b
    bg bt-a "$LA" env WG_SUDO=1 boringtun-cli --foreground --disable-drop-privileges "$BT_A"
    bg bt-b "$LB" env WG_SUDO=1 boringtun-cli --foreground --disable-drop-privileges "$BT_B"
    wg_pair "$BT_A" "$BT_B" 51820 100.80.0
}
rep_boringtun() { rep_tunnel boringtun 100.80.0.2; }
down_boringtun() {
    stop_path
    rm -f "/var/run/wireguard/$BT_A.sock" "/var/run/wireguard/$BT_B.sock"
}
