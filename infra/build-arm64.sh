#!/usr/bin/env bash
# Builds every function for AWS Lambda on arm64 (Graviton), as SAM deploys them:
# target/lambda/<function>/bootstrap.zip. Installs cargo-lambda (pinned, from PyPI, with zig for
# cross-linking) into .venv-lambda and the Rust aarch64 target when missing (infra/setup.sh --deploy).
#
# It builds exactly as `sam build` does for each function (`cargo lambda build --release --arm64
# --bin <function>` at the workspace root, so the workspace's features are the same), all at
# once: `sam build` afterwards finds everything fresh and compiles nothing again.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash infra/setup.sh --deploy
export PATH="$root/.venv-lambda/bin:$PATH"
functions=(stock-command stock-query alerts-api alert-evaluator alert-clock report-writer reports-api stream-projector reservation-expiry replenishment reconciler upgrade)
bins=()
for f in "${functions[@]}"; do bins+=(--bin "$f"); done
echo "==> cargo lambda build --release --arm64 (all functions)"
cargo lambda build --release --arm64 --output-format zip "${bins[@]}"
for f in "${functions[@]}"; do
  zip="target/lambda/$f/bootstrap.zip"
  [ -f "$zip" ] || { echo "missing $zip" >&2; exit 1; }
  printf '%-18s %s bytes\n' "$f" "$(stat -c %s "$zip")"
done
