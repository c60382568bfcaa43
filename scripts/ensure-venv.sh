#!/usr/bin/env bash
# Creates (or tops up) the Python virtualenv that the integration tests take their local
# servers from, idempotently: a package already importable is not installed again.
#
#   MINIAPP_VENV   where the virtualenv lives (default: $HOME/.cache/miniapp/venv)
#   PYTHON         the interpreter that creates it (default: python3)
#
# To add a package: append "<pip requirement>|<module to import>" to PACKAGES.
set -euo pipefail

PACKAGES=(
  # moto_server, the DynamoDB and S3 emulator of the store and file tests: "server" brings
  # flask/flask-cors/werkzeug for the HTTP server, "dynamodb" the expression parsers DynamoDB
  # needs, "s3" what its S3 needs (PyYAML, py-partiql-parser; "server" has them too).
  "moto[dynamodb,s3,server]>=5,<6|moto.server"
  # The template's offline checks (tests/template.rs): cfn-lint, `sam validate --lint` and
  # samtranslator's own transform; cargo-lambda cross-builds the `sam build` artifacts.
  "cfn-lint>=1,<2|cfnlint"
  "aws-sam-translator>=1.90,<2|samtranslator"
  "aws-sam-cli>=1.120,<2|samcli"
  # cargo-lambda ships a binary and no Python module: its installed metadata is the check.
  "cargo-lambda>=1,<2|importlib.metadata; importlib.metadata.version('cargo-lambda')"
)

VENV="${MINIAPP_VENV:-$HOME/.cache/miniapp/venv}"
PYTHON="${PYTHON:-python3}"

if [ ! -x "$VENV/bin/python" ]; then
  mkdir -p "$(dirname "$VENV")"
  "$PYTHON" -m venv "$VENV"
fi

missing=()
for entry in "${PACKAGES[@]}"; do
  requirement="${entry%%|*}"
  module="${entry##*|}"
  if ! "$VENV/bin/python" -c "import $module" >/dev/null 2>&1; then
    missing+=("$requirement")
  fi
done

if [ "${#missing[@]}" -gt 0 ]; then
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${missing[@]}"
  echo "ensure-venv: installed ${missing[*]} into $VENV"
fi
