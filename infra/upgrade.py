"""The deploy's last step: invokes the stack's data upgrade (UpgradeFunction) until it answers
`complete`, printing each run's report. Each invocation works for up to 14 minutes and saves its
progress, so a large table takes several; an interrupted deploy runs this again and it resumes.

    .venv-lambda/bin/python infra/upgrade.py --stack-name NAME [--region REGION]

Without --stack-name, the stack name saved in samconfig.toml by `sam deploy --guided` is used.
"""

import argparse
import json
import sys
import tomllib
from pathlib import Path

import boto3
from botocore.config import Config

MAX_INVOCATIONS = 50


def saved_stack_name() -> str | None:
    path = Path(__file__).resolve().parent.parent / "samconfig.toml"
    if not path.exists():
        return None
    config = tomllib.loads(path.read_text())
    return config.get("default", {}).get("deploy", {}).get("parameters", {}).get("stack_name")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack-name", default=None)
    parser.add_argument("--region", default=None)
    args, _ = parser.parse_known_args()
    stack = args.stack_name or saved_stack_name()
    if not stack:
        print("no --stack-name and none saved in samconfig.toml", file=sys.stderr)
        return 2
    session = boto3.session.Session(region_name=args.region)
    outputs = session.client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0]["Outputs"]
    function = next(o["OutputValue"] for o in outputs if o["OutputKey"] == "UpgradeFunctionName")
    # One invocation lasts up to 15 minutes: no retry by the client (the function resumes anyway).
    lam = session.client("lambda", config=Config(read_timeout=960, retries={"max_attempts": 1}))
    for _ in range(MAX_INVOCATIONS):
        response = lam.invoke(FunctionName=function, Payload=b"{}")
        payload = json.loads(response["Payload"].read() or b"null")
        if "FunctionError" in response:
            print(f"data upgrade failed: {json.dumps(payload)}", file=sys.stderr)
            return 1
        print(f"data upgrade: {json.dumps(payload)}")
        if payload.get("complete"):
            return 0
    print(f"data upgrade not complete after {MAX_INVOCATIONS} invocations", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
