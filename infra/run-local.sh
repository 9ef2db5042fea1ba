#!/usr/bin/env bash
# Sets up and runs the whole system locally: the AWS emulator, the resources of template.yaml and
# the HTTP API on 127.0.0.1 (default port 3000), with demo data and a printed token per role.
# Extra arguments go to the local stack (e.g. --port 8080, or --no-demo to start empty).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash infra/setup.sh
demo=(--demo)
args=()
for a in "$@"; do
  if [ "$a" = "--no-demo" ]; then demo=(); else args+=("$a"); fi
done
echo "==> building and starting the local stack"
exec cargo run --quiet -p local-stack --bin local-stack -- "${demo[@]}" "${args[@]}"
