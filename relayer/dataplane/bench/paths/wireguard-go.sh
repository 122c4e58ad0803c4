# (e) wireguard-go (userspace WireGuard with TUN offloads, what Tailscale and
# NetBird build on) between the leases over the direct veth:
# wgo${P}a (100.81.0.1, lease A) <-> wgo${P}b (100.81.0.2, lease B), UDP 51821.
up_wggo() {
    WGO_A=wgo${P}a WGO_B=wgo${P}b
    bg wgo-a "$LA" env WG_PROCESS_FOREGROUND=1 wireguard-go -f "$WGO_A"
    bg wgo-b "$LB" env WG_PROCESS_FOREGROUND=1 wireguard-go -f "$WGO_B"
    wg_pair "$WGO_A" "$WGO_B" 51821 100.81.0
}
rep_wggo() { rep_tunnel wggo 100.81.0.2; }
down_wggo() {
    stop_path
    rm -f "/var/run/wireguard/$WGO_A.sock" "/var/run/wireguard/$WGO_B.sock"
}
