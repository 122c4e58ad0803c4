#!/usr/bin/env bash
# Builds every fuzz target of avpn-dataplane and runs each for a fixed number
# of executions, one after the other; fails if any target crashes. Targets
# are the [[bin]] entries of fuzz/Cargo.toml (`cargo fuzz list`), so a new
# target is picked up without editing this script.
#
#   relayer/dataplane/fuzz/run.sh                  # every target, 30,000 runs (the test suite's step)
#   relayer/dataplane/fuzz/run.sh --runs 1000000   # the long run recorded in README.md
#   relayer/dataplane/fuzz/run.sh --runs 200000 gro gso_split
#
# Each target starts from its committed seeds (corpus/<target>/*.bin) and
# replays the crash reproducers kept under regressions/<target>/; what it
# finds goes to a scratch directory, so the checkout stays clean. A crashing
# input is kept under fuzz/artifacts/<target>/ (the command to replay it is
# printed).
#
# Needs cargo-fuzz (integration-tests/install-deps.sh installs it under
# ~/.cache/avpn/tools) and a stable toolchain: the -Z flags cargo-fuzz
# passes are allowed with RUSTC_BOOTSTRAP=1, no nightly is needed.
# Build directory: $CARGO_TARGET_DIR, by default ~/.cache/avpn/target-fuzz.
set -euo pipefail

fuzz_dir=$(cd "$(dirname "$0")" && pwd)
runs=30000
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs=$2; shift 2 ;;
    --runs=*) runs=${1#--runs=}; shift ;;
    -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "run.sh: unknown option $1" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
[[ "$runs" =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: --runs needs a positive number, got '$runs'" >&2; exit 2; }

export PATH="${AVPN_TOOLS_ROOT:-$HOME/.cache/avpn/tools}/bin:$HOME/.cargo/bin:$PATH"
command -v cargo-fuzz >/dev/null || {
  echo "run.sh: cargo-fuzz is missing; run integration-tests/install-deps.sh" >&2
  exit 1
}
export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/avpn/target-fuzz}
cd "$fuzz_dir/.."   # cargo fuzz works from the crate that holds fuzz/

# Same rules as the main workspace's `--locked` builds and `cargo fmt --check`.
if ! cargo metadata --locked --format-version 1 --manifest-path "$fuzz_dir/Cargo.toml" >/dev/null 2>&1; then
  echo "run.sh: fuzz/Cargo.lock is out of date (a dependency of avpn-dataplane or of the fuzz crate changed)." >&2
  echo "        Update it with: cargo update --workspace --manifest-path relayer/dataplane/fuzz/Cargo.toml" >&2
  exit 1
fi
cargo fmt --manifest-path "$fuzz_dir/Cargo.toml" -- --check

quiet() { "$@" 2>&1 | { grep -v '^ *Compiling ' || true; }; }
build_start=$SECONDS
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cargo fuzz list)
  [ ${#targets[@]} -gt 0 ] || { echo "run.sh: no fuzz targets found" >&2; exit 1; }
  echo "building ${#targets[@]} fuzz targets with $(cargo fuzz --version), $(rustc --version)"
  quiet cargo fuzz build
else
  echo "building ${targets[*]} with $(cargo fuzz --version), $(rustc --version)"
  for t in "${targets[@]}"; do quiet cargo fuzz build "$t"; done
fi
echo "built in $((SECONDS - build_start))s"

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
failed=()
summary=()
for t in "${targets[@]}"; do
  mkdir -p "$scratch/$t"
  dirs=("$scratch/$t")
  for d in "$fuzz_dir/corpus/$t" "$fuzz_dir/regressions/$t"; do
    [ -d "$d" ] && dirs+=("$d")
  done
  log="$scratch/$t.log"
  start=$(date +%s%N)
  rc=0
  cargo fuzz run "$t" "${dirs[@]}" -- \
    -runs="$runs" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 >"$log" 2>&1 || rc=$?
  ms=$((($(date +%s%N) - start) / 1000000))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  seed=$(sed -n 's/^INFO: Seed: *//p' "$log" | head -1)
  if [ "$rc" -eq 0 ] && grep -q '^Done [0-9]* runs' "$log"; then
    result=ok
  else
    result="FAILED (exit $rc)"
    failed+=("$t")
    echo "---- $t: last lines of the libFuzzer log ----"
    tail -n 60 "$log"
    echo "---- replay: cd relayer/dataplane && RUSTC_BOOTSTRAP=1 cargo fuzz run $t <artifact above>"
  fi
  rate=$(( ${execs:-0} * 1000 / (ms > 0 ? ms : 1) ))
  line=$(printf '%-14s %10s execs %5d.%ds %8s exec/s  seed %-11s %s' \
    "$t" "${execs:-?}" $((ms / 1000)) $((ms % 1000 / 100)) "${rate:-?}" "${seed:-?}" "$result")
  echo "$line"
  summary+=("$line")
done

echo
echo "fuzz summary (-runs=$runs per target):"
printf '  %s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: ${#failed[@]} target(s) failed: ${failed[*]}"
  exit 1
fi
echo "fuzz: ${#targets[@]} targets, no crash"
