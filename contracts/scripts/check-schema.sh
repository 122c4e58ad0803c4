#!/usr/bin/env bash
# Regenerates the JSON Schema of both contracts (each crate's schema binary
# writes schema/<crate>/) and fails when the result differs from what is
# committed: a changed message type must come with its regenerated schema.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"

crates=(network-registry provider-directory)
for crate in "${crates[@]}"; do
  echo "generating schema of $crate"
  cargo run --locked -q -p "$crate" >/dev/null
done

if ! git diff --exit-code --stat -- schema/ || [ -n "$(git status --porcelain --untracked-files=all -- schema/)" ]; then
  git status --short -- schema/
  echo "error: schema/ is stale; run: bash contracts/scripts/check-schema.sh and commit schema/" >&2
  exit 1
fi
echo "schema/ is up to date"
