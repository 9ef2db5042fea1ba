#!/usr/bin/env bash
# Builds every function for arm64 and deploys the stack with the pinned SAM CLI (in .venv-lambda,
# installed by infra/setup.sh --deploy; it need not be on PATH). Arguments go to `sam deploy`;
# with none, `sam deploy --guided` asks for the parameters and saves them in samconfig.toml.
#
#   bash infra/deploy.sh                    # first time: guided
#   bash infra/deploy.sh --no-confirm-changeset   # later: with the saved samconfig.toml
#
# Needs AWS credentials for the target account (the usual AWS_PROFILE / AWS_REGION or
# environment variables). No beta or experimental flag is needed: SAM CLI 1.170's
# rust-cargolambda build method is generally available. Last, it invokes the data upgrade until
# it has brought every item up to this release (infra/upgrade.py).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash infra/setup.sh --deploy
export PATH="$root/.venv-lambda/bin:$PATH"
export SAM_CLI_TELEMETRY=0
echo "==> sam build (cargo lambda build --release --arm64 per function)"
sam build --template template.yaml
if [ "$#" -eq 0 ]; then
  set -- --guided
fi
echo "==> sam deploy $*"
sam deploy --capabilities CAPABILITY_IAM "$@"
# The data upgrade: brings what earlier releases wrote up to this release's indexes (a no-op
# read on a table already upgraded). Takes the same --stack-name/--region, else samconfig.toml's.
echo "==> data upgrade (UpgradeFunction, until complete)"
"$root/.venv-lambda/bin/python" infra/upgrade.py "$@"
