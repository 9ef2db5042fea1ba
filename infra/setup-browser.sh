#!/usr/bin/env bash
# Installs what the admin console's tests need: Node.js and npm (Debian's, when missing),
# Debian's chromium for headless runs, and playwright-core at the version pinned in
# tests/console/package-lock.json. Safe to run again: it installs only what is missing.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

sudo=()
if [ "$(id -u)" -ne 0 ]; then sudo=(sudo); fi
apt_install() {
  echo "==> apt-get install $*"
  if [ -z "${apt_updated:-}" ]; then
    "${sudo[@]}" apt-get update -qq
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "$@"
}

missing=()
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
[ -x /usr/bin/chromium ] || missing+=(chromium)
if [ "${#missing[@]}" -gt 0 ]; then apt_install "${missing[@]}"; fi
echo "==> $(/usr/bin/chromium --version 2>/dev/null | head -1), node $(node --version)"

echo "==> npm ci (tests/console: playwright-core, pinned by its package-lock.json)"
(cd tests/console && npm ci --no-audit --no-fund --loglevel=error)
