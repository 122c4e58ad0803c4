# Tables and targets of run.sh (sourced): every figure is min / median / max over
# the repetitions; ratios are of medians, to direct veth and to wireguard-go.

LABELS=(
    "direct:(a) direct veth"
    "transparent:(b) avpn transparent"
    "userspace:(c) avpn userspace"
    "boringtun:(d) boringtun"
    "wggo:(e) wireguard-go"
)

# ratio A B: A / B with two decimals, "n/a" when either is missing or B is 0.
ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN {
        if (a == "nan" || b == "nan" || a == "" || b == "" || b + 0 == 0) print "n/a"
        else printf "%.2f", a / b }'
}

# table METRIC TITLE FORMAT [added]: one line per path that has the metric.
table() {
    local metric=$1 title=$2 fmt=$3 extra=${4:-} d w entry id label min med max
    compgen -G "$RES/*.$metric" >/dev/null || return 0
    d=$(median direct "$metric")
    w=$(median wggo "$metric")
    echo
    printf "%-30s %9s %9s %9s %9s %9s" "$title" min median max "x direct" "x wg-go"
    [ "$extra" = added ] && printf " %11s" "+ vs direct"
    [ "$extra" = loss ] && printf " %11s" "loss % med"
    echo
    for entry in "${LABELS[@]}"; do
        id=${entry%%:*} label=${entry#*:}
        [ -s "$RES/$id.$metric" ] || continue
        read -r min med max < <(stats "$id" "$metric")
        printf "%-30s %9s %9s %9s %9s %9s" "$label" "$(num "$fmt" "$min")" "$(num "$fmt" "$med")" \
            "$(num "$fmt" "$max")" "$(ratio "$med" "$d")" "$(ratio "$med" "$w")"
        [ "$extra" = added ] && printf " %11s" "$(diff_of "$med" "$d")"
        [ "$extra" = loss ] && printf " %11s" "$(num %.3f "$(median "$id" udploss)")"
        echo
    done
}

num() { awk -v f="$1" -v v="$2" 'BEGIN { if (v == "nan" || v == "") print "n/a"; else printf f, v }'; }
diff_of() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "nan" || b == "nan" || a == "" || b == "") print "nan"; else printf "%.0f", a - b }'; }

# target TEXT VALUE CONDITION: CONDITION is an awk expression of v (the figure);
# prints MET / NOT MET (n/a without a figure); never fails.
target() {
    local verdict
    verdict=$(awk -v v="$2" "BEGIN { if (v == \"nan\" || v == \"n/a\" || v == \"\") print \"n/a (no figure)\";
        else if ($3) print \"MET\"; else print \"NOT MET\" }")
    printf "  %-52s %10s -> %s\n" "$1" "$2" "$verdict"
}

report() {
    table tcp1 "TCP 1 stream, Gbit/s" %.2f
    table tcp4 "TCP 4 streams, Gbit/s" %.2f
    table udp "UDP loss-free, Gbit/s" %.2f loss
    table rtt50 "RTT p50, us" %.0f added
    table rtt99 "RTT p99, us" %.0f added
    table rtt50w "RTT p50, 1 ms apart, us" %.0f added
    table rtt99w "RTT p99, 1 ms apart, us" %.0f added
    table cpugb "CPU s per GB (1 stream)" %.2f
    table conns "TCP conn/s (c: via SOCKS5)" %.0f
    echo
    echo "userspace RTT is a 1-byte TCP echo through SOCKS5 (no ping in userspace mode); UDP n/a there (SOCKS5 UDP ASSOCIATE is not benchmarked)."
    echo "userspace failed connections (median): $(median userspace connfail)"
    echo "policy decision with 10,000 rules: $POLICY ns"
    echo "wake-up round trip between two threads (pipes): ${WAKE_CROSS:-n/a} us on different CPUs, ${WAKE_SAME:-n/a} us on one CPU;"
    echo "  one overlay round trip wakes the relayers' threads at least 3 times (the sender's twice, the receiver's once)"

    local b1 b4 d1 w1 w4 bu wu c1 conns added50 added99 bcpu wcpu
    b1=$(median transparent tcp1) b4=$(median transparent tcp4) bu=$(median transparent udp)
    d1=$(median direct tcp1) w1=$(median wggo tcp1) w4=$(median wggo tcp4) wu=$(median wggo udp)
    c1=$(median userspace tcp1) conns=$(median userspace conns)
    added50=$(diff_of "$(median transparent rtt50)" "$(median direct rtt50)")
    added99=$(diff_of "$(median transparent rtt99)" "$(median direct rtt99)")
    bcpu=$(median transparent cpugb) wcpu=$(median wggo cpugb)
    echo
    echo "targets of issue 9 (medians of this run; reported, never failing the run):"
    target "(b) 1 stream >= 1.5x wireguard-go" "$(ratio "$b1" "$w1")" "v >= 1.5"
    target "(b) 1 stream >= 0.30x direct" "$(ratio "$b1" "$d1")" "v >= 0.30"
    target "(b) 4 streams >= 1.5x wireguard-go" "$(ratio "$b4" "$w4")" "v >= 1.5"
    target "(b) added RTT p50 over direct <= 100 us" "$added50" "v <= 100"
    target "(b) added RTT p99 over direct <= 300 us" "$added99" "v <= 300"
    target "  (pings 1 ms apart) added RTT p50 <= 100 us" "$(diff_of "$(median transparent rtt50w)" "$(median direct rtt50w)")" "v <= 100"
    target "(b) UDP loss-free rate >= wireguard-go (ratio)" "$(ratio "$bu" "$wu")" "v >= 1"
    target "(c) 1 stream >= 4 Gbit/s" "$(num %.2f "$c1")" "v >= 4"
    target "(c) >= 10,000 TCP conn/s through SOCKS5" "$(num %.0f "$conns")" "v >= 10000"
    target "(b) CPU per GB <= wireguard-go (ratio)" "$(ratio "$bcpu" "$wcpu")" "v <= 1"
    target "policy decision <= 100 ns with 10,000 rules" "${POLICY:-nan}" "v <= 100"
    echo "earlier targets:"
    target "(b) >= 25% of (a)" "$(ratio "$b1" "$d1")" "v >= 0.25"
    target "(b) ahead of (d) boringtun (ratio)" "$(ratio "$b1" "$(median boringtun tcp1)")" "v > 1"
    target "(c) >= 2 Gbit/s" "$(num %.2f "$c1")" "v >= 2"
    target ">= 5,000 conn/s" "$(num %.0f "$conns")" "v >= 5000"
}
