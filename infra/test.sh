#!/usr/bin/env bash
# Sets up and runs every check and test: formatting, lints, the template (cfn-lint, checkov, sam
# validate --lint) and OpenAPI linters, unit tests, the integration tests against DynamoDB Local and moto, the function
# binaries under the Lambda Runtime API emulator, the admin console in headless Chromium, and the
# arm64 Lambda build with `sam build`. This is the README's test command, and .ci/run runs exactly this.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash infra/setup.sh --deploy
bash infra/setup-browser.sh

echo "==> cargo fmt --check"
cargo fmt --all -- --check
echo "==> cargo clippy (warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "==> cfn-lint template.yaml"
.venv/bin/cfn-lint template.yaml
echo "==> checkov template.yaml (security scan; every skipped check is explained in infra/checkov.yaml)"
.venv-scan/bin/checkov --config-file infra/checkov.yaml -f template.yaml
echo "==> sam validate --lint"
SAM_CLI_TELEMETRY=0 .venv-lambda/bin/sam validate --lint --template template.yaml --region us-east-1
echo "==> OpenAPI document"
.venv/bin/python -c "import yaml, openapi_spec_validator as v; v.validate(yaml.safe_load(open('docs/openapi.yaml'))); print('docs/openapi.yaml is valid OpenAPI 3.1')"
echo "==> cargo build --bins (the function binaries the Lambda tests run under the Runtime API emulator)"
cargo build --workspace --bins --locked
echo "==> cargo test (unit and integration, against DynamoDB Local and moto)"
cargo test --workspace --locked
echo "==> admin console: unit tests and end-to-end tests in headless Chromium against the local stack"
source infra/lib.sh
use_node
(cd tests/console && npm test)
echo "==> arm64 Lambda build (cargo lambda build --release --arm64)"
bash infra/build-arm64.sh
echo "==> sam build (the template builds as deployed: cargo lambda, one function at a time)"
(export PATH="$root/.venv-lambda/bin:$PATH" SAM_CLI_TELEMETRY=0 && sam build --template template.yaml)
echo "==> all checks passed"
