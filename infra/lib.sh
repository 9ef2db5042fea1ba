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
