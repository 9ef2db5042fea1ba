#!/usr/bin/env bash
# Installs what the local stack and the tests need, pinned, into the project's own .venv.
# Safe to run again: it does nothing when the installed set matches infra/requirements.txt.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

python="${PYTHON:-python3}"
command -v "$python" >/dev/null || { echo "python3 is required" >&2; exit 1; }
command -v cargo >/dev/null || { echo "cargo (Rust) is required" >&2; exit 1; }

stamp=".venv/.requirements.sha256"
want="$(sha256sum infra/requirements.txt | cut -d' ' -f1)"
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "==> installing pinned Python tools into .venv (moto, cfn-lint, openapi-spec-validator)"
  "$python" -m venv .venv
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r infra/requirements.txt
  echo "$want" > "$stamp"
fi

for component in rustfmt clippy; do
  if ! cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1; then
    echo "==> installing rust component $component"
    rustup component add "$component"
  fi
done
