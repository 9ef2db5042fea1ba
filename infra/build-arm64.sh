#!/usr/bin/env bash
# Builds every function for AWS Lambda on arm64 (Graviton), as SAM deploys them:
# target/lambda/<function>/bootstrap.zip. Installs cargo-lambda (pinned, from PyPI, with zig for
# cross-linking) into .venv-lambda and the Rust aarch64 target when missing.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
if [ ! -x .venv-lambda/bin/cargo-lambda ]; then
  echo "==> installing cargo-lambda 1.9.2 into .venv-lambda"
  python3 -m venv .venv-lambda
  .venv-lambda/bin/python -m pip install --quiet --disable-pip-version-check cargo-lambda==1.9.2
fi
if ! rustup target list --installed | grep -qx aarch64-unknown-linux-gnu; then
  echo "==> adding the aarch64-unknown-linux-gnu Rust target"
  rustup target add aarch64-unknown-linux-gnu
fi
export PATH="$root/.venv-lambda/bin:$PATH"
echo "==> cargo lambda build --release --arm64 (all functions)"
cargo lambda build --release --arm64 --output-format zip \
  -p stock-command -p stock-query -p alerts-api -p alert-evaluator
for f in stock-command stock-query alerts-api alert-evaluator; do
  zip="target/lambda/$f/bootstrap.zip"
  [ -f "$zip" ] || { echo "missing $zip" >&2; exit 1; }
  printf '%-16s %s bytes\n' "$f" "$(stat -c %s "$zip")"
done
