#!/usr/bin/env bash
# Every benchmark of the project, each printing its figures and ratios:
# contract gas (real wasm in cosmwasm-vm), data plane (TCP 1/4 streams, UDP
# loss-free rate, RTT p50/p99, CPU per GB, conn/s vs direct veth, wireguard-go
# and boringtun, min/median/max over REPS; policy ns/decision), control plane propagation
# and cold sync (against the running localnet).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

echo "--- contracts: add_member gas at 10 / 1,000 / 10,000 members"
# Gas is deterministic: a debug build gives the same figures without a 10-minute release build of wasmer.
cargo test --locked -p avpn-vm-tests --bench add_member_gas -- --nocapture

echo "--- control plane: one policy change with a 16,384-member network + 1,000 small ones (RSS, time)"
cargo test --locked -p avpn-control --release --test bench_scale -- --ignored --nocapture

echo "--- data plane"
DUR=${DUR:-3} bash relayer/dataplane/bench/run.sh

if [ -f relayer/control/bench/run.sh ]; then
  echo "--- control plane"
  bash relayer/control/bench/run.sh
fi
