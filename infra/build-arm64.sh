#!/usr/bin/env bash
# Builds every function for AWS Lambda on arm64 (Graviton), as SAM deploys them:
# target/lambda/<function>/bootstrap.zip. Installs cargo-lambda (pinned, from PyPI, with zig for
# cross-linking) into .venv-lambda and the Rust aarch64 target when missing (infra/setup.sh --deploy).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash infra/setup.sh --deploy
export PATH="$root/.venv-lambda/bin:$PATH"
echo "==> cargo lambda build --release --arm64 (all functions)"
cargo lambda build --release --arm64 --output-format zip \
  -p stock-command -p stock-query -p alerts-api -p alert-evaluator -p alert-clock -p report-writer -p reports-api -p stocktake-import -p reservation-expiry -p replenishment
for f in stock-command stock-query alerts-api alert-evaluator alert-clock report-writer reports-api stocktake-import reservation-expiry replenishment; do
  zip="target/lambda/$f/bootstrap.zip"
  [ -f "$zip" ] || { echo "missing $zip" >&2; exit 1; }
  printf '%-16s %s bytes\n' "$f" "$(stat -c %s "$zip")"
done
