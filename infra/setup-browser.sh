#!/usr/bin/env bash
# Installs what the admin console's tests need: Node.js and npm (Debian's, when missing),
# Debian's chromium for headless runs, and playwright-core at the version pinned in
# tests/console/package-lock.json. Safe to run again: it installs only what is missing.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

source infra/lib.sh

missing=()
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
[ -x /usr/bin/chromium ] || missing+=(chromium)
if [ "${#missing[@]}" -gt 0 ]; then apt_install "${missing[@]}"; fi
# The console tests use node --test with --test-concurrency (Node 20 or newer). An older Node.js
# (Debian 12's is 18) gets Node.js 20 from the npm registry, pinned by infra/node/package-lock.json;
# use_node (infra/lib.sh) puts it first on PATH for the test and run scripts.
node_major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$node_major" -lt 20 ]; then
  echo "==> node $(node --version) is older than 20: Node.js 20 from the npm registry into infra/node"
  npm_ci infra/node
fi
use_node
echo "==> $(/usr/bin/chromium --version 2>/dev/null | head -1), node $(node --version)"

npm_ci tests/console
