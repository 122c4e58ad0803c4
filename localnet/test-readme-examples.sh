#!/usr/bin/env bash
# Runs every tenant example of README.md (fenced blocks with the info string
# `sh akash-example` between the tenant-examples markers) in order, in one shell,
# against a localnet, with its env loaded and `akash` = localnet/bin/akash.
# Each example must exit 0; every `akash q|tx` in it must print JSON.
#
# By default a throwaway localnet (own home, free ports) is started and reset
# afterwards, so the examples always see a fresh chain. --use-running runs them
# against the localnet of AVPN_LOCALNET_HOME instead (started if needed).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
readme=${README:-$root/README.md}

if [ "${1:-}" != --use-running ]; then
  work=$(mktemp -d /tmp/avpn-readme-test.XXXXXX)
  export AVPN_LOCALNET_HOME="$work/localnet"
  # shellcheck source=lib.sh
  . "$here/lib.sh"
  use_free_ports
  trap '"$here/localnet" reset >/dev/null 2>&1; rm -rf "$work"' EXIT
else
  work=$(mktemp -d /tmp/avpn-readme-test.XXXXXX)
  trap 'rm -rf "$work"' EXIT
fi

# Extract the examples: one file per block.
awk -v dir="$work" '
  /<!-- tenant-examples:begin -->/ { on = 1; next }
  /<!-- tenant-examples:end -->/ { on = 0 }
  on && /^```sh akash-example *$/ { n++; inblock = 1; file = sprintf("%s/example-%03d.sh", dir, n); printf "" > file; next }
  inblock && /^```/ { inblock = 0; close(file); next }
  inblock { print > file }
  END { if (inblock) { print "unterminated example block" > "/dev/stderr"; exit 1 } }
' "$readme"
mapfile -t examples < <(find "$work" -maxdepth 1 -name 'example-*.sh' | sort)
[ ${#examples[@]} -gt 0 ] || { echo "test-readme-examples: no \`\`\`sh akash-example blocks between the tenant-examples markers of $readme" >&2; exit 1; }

"$here/localnet" up >&2
env_file=${AVPN_LOCALNET_HOME:-/root/.avpn-localnet}/env

# One script: the examples in order, each announced, with `akash` checked for JSON.
driver="$work/driver.sh"
{
  echo 'set -euo pipefail'
  echo "set -a; . '$env_file'; set +a"
  echo "export PATH='$here/bin:$here':\"\$PATH\""
  echo "cd '$root'"
  cat <<'EOF'
akash() {
  local out
  out=$(command akash "$@") || { echo "FAILED (exit $?): akash $*" >&2; return 1; }
  case ${1:-} in
    q | query | tx)
      jq -e . >/dev/null 2>&1 <<<"$out" || { echo "FAILED: 'akash $*' did not print JSON: $out" >&2; return 1; } ;;
  esac
  printf '%s\n' "$out"
}
EOF
  for f in "${examples[@]}"; do
    name=$(basename "$f" .sh)
    echo "echo '--- $name' >&2"
    cat "$f"
    echo "echo '--- $name ok' >&2"
  done
} >"$driver"

if bash "$driver"; then
  echo "test-readme-examples: all ${#examples[@]} README examples passed" >&2
else
  echo "test-readme-examples: FAILED (see the last '--- example-NNN' above; blocks are in README order)" >&2
  exit 1
fi
