#!/usr/bin/env bash
# The DynamoDB figures of docs/benchmarks.md in one report: write capacity per movement, item sizes and
# the hot-SKU ceiling (cost-bench), then sale latency against the bare writes, one SKU against 100,
# and requests per operation (bench). Both run against AWS's DynamoDB Local on this machine.
# Extra arguments go to bench (e.g. --quick).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash infra/setup.sh
cargo run --quiet --profile perf -p local-stack --bin cost-bench
echo
cargo run --quiet --profile perf -p local-stack --bin bench -- "$@"
