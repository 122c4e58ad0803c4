# Helpers of run.sh (sourced): processes, polling with deadlines, and the
# measurements (iperf3 TCP/UDP, RTT percentiles, CPU from /proc/stat).
# Every result is appended to $RES/<path>.<metric>, one line per repetition.

# bg NAME NS CMD...: start a long-running process inside NS (log in $TMP/NAME.log);
# its pid goes to PIDS, which stop_path kills.
bg() {
    local name=$1 ns=$2
    shift 2
    ip netns exec "$ns" "$@" >"$TMP/$name.log" 2>&1 &
    PIDS+=($!)
}

# wait_for SECONDS DESC CMD...: poll CMD every 50 ms until it succeeds; fail after SECONDS.
wait_for() {
    local secs=$1 desc=$2
    shift 2
    local deadline=$((SECONDS + secs))
    until "$@" >/dev/null 2>&1; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            echo "timed out after ${secs}s waiting for: $desc" >&2
            return 1
        fi
        sleep 0.05
    done
}

# wait_ready NAME: until the process logged "ready" (20 s at most).
wait_ready() {
    wait_for 20 "$1 ready" grep -q ready "$TMP/$1.log" || {
        cat "$TMP/$1.log" >&2
        exit 1
    }
}

# listening NS PORT: a TCP listener on PORT exists in NS.
listening() { ip netns exec "$1" ss -Hltn "sport = :$2" | grep -q .; }

# stop_path: end the processes of the current path (TERM, then KILL after 5 s).
stop_path() {
    local p
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    local deadline=$((SECONDS + 5))
    for p in "${PIDS[@]}"; do
        while kill -0 "$p" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.05; done
        kill -KILL "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    PIDS=()
}

# record PATH METRIC VALUE
record() { echo "${3:-nan}" >>"$RES/$1.$2"; }

# cpu_busy: busy CPU seconds of the whole machine so far (user+nice+system+irq+softirq
# of all cores from /proc/stat; idle, iowait and steal excluded).
cpu_busy() { awk -v hz="$HZ" '/^cpu / { printf "%.4f", ($2 + $3 + $4 + $7 + $8) / hz; exit }' /proc/stat; }

# iperf_json NS ARGS...: one iperf3 client run with JSON output; retried (server busy
# with the previous test's teardown) up to 5 times; prints the JSON or nothing.
# IPERF_VIA (array, optional) is a command iperf3 runs under (a SOCKS5 wrapper).
IPERF_VIA=()
iperf_json() {
    local ns=$1 out i
    shift
    for i in 1 2 3 4 5; do
        out=$(ip netns exec "$ns" "${IPERF_VIA[@]}" iperf3 -J "$@" 2>/dev/null || true)
        if jq -e '.end.sum_sent' <<<"$out" >/dev/null 2>&1; then
            echo "$out"
            return
        fi
        wait_for 5 "iperf3 server" listening "$LB" 5201 || true
        sleep "0.$i" # back-off between retries of a busy server, not synchronisation
    done
}

# tcp PATH NS HOST PORT: one single-stream run (Gbit/s and CPU s/GB) and one
# 4-stream run (Gbit/s), DUR seconds each.
tcp() {
    local path=$1 ns=$2 host=$3 port=$4 c0 c1 out
    c0=$(cpu_busy)
    out=$(iperf_json "$ns" -c "$host" -p "$port" -t "$DUR")
    c1=$(cpu_busy)
    if [ -n "$out" ]; then
        record "$path" tcp1 "$(jq '.end.sum_received.bits_per_second / 1e9' <<<"$out")"
        record "$path" cpugb "$(jq --arg c "$(awk -v a="$c0" -v b="$c1" 'BEGIN { print b - a }')" \
            '($c | tonumber) / (.end.sum_received.bytes / 1e9)' <<<"$out")"
    else
        record "$path" tcp1 0
    fi
    out=$(iperf_json "$ns" -c "$host" -p "$port" -t "$DUR" -P 4)
    if [ -n "$out" ]; then
        record "$path" tcp4 "$(jq '.end.sum_received.bits_per_second / 1e9' <<<"$out")"
    else
        record "$path" tcp4 0
    fi
}

# udp_probe NS HOST RATE: one UDP run of UDP_DUR s at RATE bit/s (0 = as fast as
# iperf3 sends); prints "sent_bps received_bps loss_pct" (received = sent × (1 − loss)).
udp_probe() {
    local out
    out=$(iperf_json "$1" -c "$2" -p 5201 -u -b "$3" -l "$UDP_LEN" -w "$UDP_WIN" -t "$UDP_DUR")
    [ -n "$out" ] || {
        echo "0 0 100"
        return
    }
    jq -r '.end.sum_sent.bits_per_second as $s | .end.sum.lost_percent as $l
        | "\($s) \($s * (1 - $l / 100)) \($l)"' <<<"$out"
}

# udp PATH NS HOST: the highest received UDP rate with loss <= UDP_LOSS %, found with
# at most UDP_PROBES runs: first as fast as the sender goes (its received rate is the
# first guess and its sent rate the upper bound), then bisection.
udp() {
    local path=$1 ns=$2 host=$3 sent recv loss lo=0 hi rate best=0 bestloss=nan n
    read -r sent recv loss < <(udp_probe "$ns" "$host" 0)
    if awk -v s="$sent" 'BEGIN { exit !(s <= 0) }'; then
        : # no UDP run completed: the path carries no UDP
    elif awk -v l="$loss" -v t="$UDP_LOSS" 'BEGIN { exit !(l <= t) }'; then
        best=$recv bestloss=$loss
    else
        hi=$sent rate=$recv
        for ((n = 2; n <= UDP_PROBES; n++)); do
            read -r sent recv loss < <(udp_probe "$ns" "$host" "$(printf '%.0f' "$rate")")
            if awk -v l="$loss" -v t="$UDP_LOSS" 'BEGIN { exit !(l <= t) }'; then
                if awk -v r="$recv" -v b="$best" 'BEGIN { exit !(r > b) }'; then best=$recv bestloss=$loss; fi
                lo=$rate
            else
                hi=$rate
            fi
            rate=$(awk -v lo="$lo" -v hi="$hi" 'BEGIN { printf "%.0f", (lo > 0 ? (lo + hi) / 2 : hi / 2) }')
        done
    fi
    record "$path" udp "$(awk -v b="$best" 'BEGIN { print b / 1e9 }')"
    record "$path" udploss "$bestloss"
}

# percentiles: read samples (one a line), print "p50 p99" (nearest rank) or "nan nan".
percentiles() {
    sort -g | awk '{ a[NR] = $1 }
        function r(p,  i) { i = int(p * NR); if (i < p * NR) i++; if (i < 1) i = 1; return a[i] }
        END { if (NR == 0) print "nan nan"; else printf "%.0f %.0f\n", r(0.50), r(0.99) }'
}

# rtt_ping PATH NS HOST: RTT_COUNT pings every 10 ms (metrics rtt50/rtt99),
# then RTT_WARM_COUNT pings every 1 ms (rtt50w/rtt99w); p50/p99 in µs from
# per-packet times. Between pings 10 ms apart this VM's vCPUs go idle and
# wake slowly; 1 ms apart they stay warm.
rtt_ping() {
    local p50 p99 interval suffix count
    for interval in 0.01 0.001; do
        suffix= count=$RTT_COUNT
        [ "$interval" = 0.001 ] && suffix=w count=$RTT_WARM_COUNT
        read -r p50 p99 < <(ip netns exec "$2" ping -n -c "$count" -i "$interval" -W 1 "$3" |
            sed -n 's/.* time=\([0-9.]*\) ms.*/\1/p' | awk '{ print $1 * 1000 }' | percentiles)
        record "$1" "rtt50$suffix" "$p50"
        record "$1" "rtt99$suffix" "$p99"
    done
}

# stats PATH METRIC: "min median max" of the repetitions ("nan nan nan" if none).
stats() {
    local f="$RES/$1.$2"
    [ -s "$f" ] || {
        echo "nan nan nan"
        return
    }
    grep -v nan "$f" | sort -g | awk '{ a[NR] = $1 }
        END { if (NR == 0) { print "nan nan nan"; exit }
              m = NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2
              print a[1], m, a[NR] }'
}

# rep_tunnel PATH HOST: one repetition on a path that carries IP packets between the
# leases: RTT first (idle machine), then TCP 1 and 4 streams, then UDP.
rep_tunnel() {
    rtt_ping "$1" "$LA" "$2"
    tcp "$1" "$LA" "$2" 5201
    udp "$1" "$LA" "$2"
}

# median PATH METRIC
median() { stats "$1" "$2" | awk '{ print $2 }'; }

# make_namespaces: the namespaces $PA $PB (providers) and $LA $LB (leases),
# loopback up, and the providers' underlay veth u0: 198.18.0.1 in $PA <->
# 198.18.0.2 in $PB. A connect may reuse a port in TIME_WAIT on every
# address (Linux allows it on loopback only by default): the connections/s
# runs close tens of thousands of connections, which would otherwise exhaust
# the ports towards one server and time the kernel's port search instead.
make_namespaces() {
    local ns
    for ns in $PA $PB $LA $LB; do
        ip netns add "$ns"
        ip -n "$ns" link set lo up
        ip netns exec "$ns" sysctl -qw net.ipv4.tcp_tw_reuse=1
    done
    veth u0 "$PA" 198.18.0.1/24 "$PB" 198.18.0.2/24
}

# veth NAME NS_A ADDR_A NS_B ADDR_B: a veth pair named NAME at both ends,
# between NS_A and NS_B, each end given its address and brought up.
veth() {
    local name=$1 ns_a=$2 addr_a=$3 ns_b=$4 addr_b=$5
    ip link add "$name" netns "$ns_a" type veth peer name "$name" netns "$ns_b"
    ip -n "$ns_a" addr add "$addr_a" dev "$name"
    ip -n "$ns_a" link set "$name" up
    ip -n "$ns_b" addr add "$addr_b" dev "$name"
    ip -n "$ns_b" link set "$name" up
}

# iperf_server: one iperf3 server (TCP and UDP on 5201) in lease B, its pid
# in SERVER_PIDS; returns once it listens.
iperf_server() {
    ip netns exec "$LB" iperf3 -s -p 5201 >"$TMP/iperf-server.log" 2>&1 &
    SERVER_PIDS+=($!)
    wait_for 10 "iperf3 server" listening "$LB" 5201
}

# remove_namespaces: kills whatever still runs in the four namespaces and
# deletes them (veths go with them).
remove_namespaces() {
    local ns p
    for ns in $PA $PB $LA $LB; do
        for p in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null || true; done
        ip netns del "$ns" 2>/dev/null || true
    done
}
