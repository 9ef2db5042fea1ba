#!/usr/bin/env bash
# Sets up and runs every check and test: formatting, lints, the template (cfn-lint, checkov, sam
# validate --lint) and OpenAPI linters, unit tests, the integration tests against DynamoDB Local and moto, the function
# binaries under the Lambda Runtime API emulator, the admin console in headless Chromium, and the
# arm64 Lambda build with `sam build`. This is the README's test command, and .ci/run runs exactly this.
# Each phase prints how long it took, and the total at the end.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

started=$SECONDS
phase_started=$SECONDS
phase_name=""
timings=()
# phase NAME: ends the phase before (recording its time) and announces NAME.
phase() {
  if [ -n "$phase_name" ]; then
    timings+=("$(printf '%5ds  %s' $((SECONDS - phase_started)) "$phase_name")")
  fi
  phase_name="$1"
  phase_started=$SECONDS
  [ -n "$phase_name" ] && echo "==> $phase_name"
  return 0
}

phase "setup: what cargo needs (C compiler, rustfmt, clippy)"
bash infra/setup.sh --toolchain
# The rest of the setup (the pinned Python tools, DynamoDB Local, moto, Chromium, the npm packages)
# installs beside fmt, clippy and the debug build, which need none of it; its output is shown when
# it is waited for.
setup_log="$(mktemp)"
(bash infra/setup.sh --deploy && bash infra/setup-browser.sh) > "$setup_log" 2>&1 &
setup_pid=$!
trap 'kill "$setup_pid" 2>/dev/null || true; rm -f "$setup_log"' EXIT

phase "cargo fmt --check"
cargo fmt --all -- --check
phase "cargo clippy (warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings
phase "cargo build (the function binaries the Lambda tests run, the local stack the console tests run, and every test)"
functions=(stock-command stock-query alerts-api alert-evaluator alert-clock report-writer reports-api stream-projector reservation-expiry replenishment reconciler upgrade)
bins=(--bin local-stack)
for f in "${functions[@]}"; do bins+=(--bin "$f"); done
cargo build --locked "${bins[@]}"
cargo test --workspace --locked --no-run
phase "setup, the rest (pinned tools, DynamoDB Local, moto, Chromium; started beside fmt, clippy and the build)"
if ! wait "$setup_pid"; then
  cat "$setup_log"
  echo "setup failed" >&2
  exit 1
fi
cat "$setup_log"
phase "cfn-lint template.yaml"
.venv/bin/cfn-lint template.yaml
phase "checkov template.yaml (security scan; every skipped check is explained in infra/checkov.yaml)"
.venv-scan/bin/checkov --config-file infra/checkov.yaml -f template.yaml
phase "sam validate --lint"
SAM_CLI_TELEMETRY=0 .venv-lambda/bin/sam validate --lint --template template.yaml --region us-east-1
phase "OpenAPI document"
.venv/bin/python -c "import yaml, openapi_spec_validator as v; v.validate(yaml.safe_load(open('docs/openapi.yaml'))); print('docs/openapi.yaml is valid OpenAPI 3.1')"
phase "cargo test (unit and integration, against DynamoDB Local and moto)"
cargo test --workspace --locked
phase "admin console: unit tests and end-to-end tests in headless Chromium against the local stack"
source infra/lib.sh
use_node
(cd tests/console && npm test)
phase "arm64 Lambda build (cargo lambda build --release --arm64, every function at once)"
bash infra/build-arm64.sh
phase "sam build (the template builds as deployed; reuses the arm64 build above, compiles nothing again)"
(export PATH="$root/.venv-lambda/bin:$PATH" SAM_CLI_TELEMETRY=0 && sam build --template template.yaml)
phase ""
echo "==> time per phase"
printf '%s\n' "${timings[@]}"
printf '%5ds  total\n' $((SECONDS - started))
echo "==> all checks passed"
