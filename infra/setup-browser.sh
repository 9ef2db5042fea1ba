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
# The console tests use node --test with --test-concurrency (Node 20 or newer).
node_major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$node_major" -lt 20 ]; then
  echo "the console tests need Node.js 20 or newer; node on PATH is $(node --version)." >&2
  echo "Debian 12's own nodejs package is 18: install Node 20 or newer (nodejs.org's binaries," >&2
  echo "NodeSource's apt repository, or nvm), put it first on PATH, and run this again." >&2
  exit 1
fi
echo "==> $(/usr/bin/chromium --version 2>/dev/null | head -1), node $(node --version)"

npm_ci tests/console
