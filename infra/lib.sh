# Shell helpers shared by the setup scripts (sourced, not run).

# apt_install PACKAGE...: installs Debian packages, with sudo when not root; updates the index once.
apt_install() {
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then sudo=(sudo); fi
  echo "==> apt-get install $*"
  if [ -z "${apt_updated:-}" ]; then
    "${sudo[@]}" apt-get update -qq
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "$@"
}

# npm_ci DIR: `npm ci` in DIR unless its node_modules already matches its package-lock.json.
npm_ci() {
  local dir="$1"
  local stamp="$dir/node_modules/.lock.sha256"
  local want
  want="$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)"
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "==> npm ci ($dir, pinned by its package-lock.json)"
    (cd "$dir" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error)
    echo "$want" > "$stamp"
  fi
}

# use_node: puts the pinned Node.js 20 of infra/node first on PATH when setup-browser.sh installed
# it (the machine's own Node.js was older); otherwise leaves PATH alone. Fails when neither is 20+.
use_node() {
  local here pinned
  here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
  # The platform package's own binary (npm 9 with --ignore-scripts links no .bin for it).
  for pinned in "$here"/node/node_modules/node-linux-*/bin; do
    if [ -x "$pinned/node" ]; then
      export PATH="$pinned:$PATH"
      break
    fi
  done
  local major
  major="$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)"
  if [ "$major" -lt 20 ]; then
    echo "Node.js 20 or newer is needed (node on PATH: $(node --version 2>/dev/null || echo none))" >&2
    return 1
  fi
}

