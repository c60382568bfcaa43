#!/usr/bin/env bash
# Tests of the JavaScript client SDK (client/): install, build, drift check of the committed
# dist/, unit tests, then end-to-end tests against a real `miniapp dev` on the embedded store
# and on DynamoDB (moto).
#
#   bash scripts/test-client.sh
#
# Needs Node.js 20.19+ with npm, the Rust toolchain, and python3 with venv (moto is installed
# into ${MINIAPP_VENV:-$HOME/.cache/miniapp/venv} by scripts/ensure-venv.sh). Starts every
# server it needs on loopback ports and stops them. CARGO_TARGET_DIR is honoured.
# Ends with one line: "client tests: N passed, M failed".
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo="$(pwd)"

section() {
  printf '\n==== %s ====\n' "$*"
}

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
passed=0
failed=0
skipped=0
todo=0

# Adds the "# pass N", "# fail N", "# skipped N", "# todo N" totals of a TAP file.
count_tap() {
  local total
  total() { awk -v k="$1" '$1 == "#" && $2 == k {s += $3} END {print s + 0}' "$2"; }
  passed=$((passed + $(total pass "$1")))
  failed=$((failed + $(total fail "$1")))
  skipped=$((skipped + $(total skipped "$1")))
  todo=$((todo + $(total todo "$1")))
}

# Runs `node --test` on a folder: spec output for people, TAP to a file for the counts.
run_node_tests() {
  local name="$1"
  shift
  local tap="$work/$name.tap"
  local status=0
  (cd client && node --test --test-reporter=spec --test-reporter-destination=stdout \
    --test-reporter=tap --test-reporter-destination="$tap" "$@") || status=$?
  if [ -f "$tap" ]; then
    count_tap "$tap"
  fi
  if [ "$status" -ne 0 ] && ! grep -q '^# fail [1-9]' "$tap" 2>/dev/null; then
    # The runner failed without a failing test (a crash, a hook): count it as one failure.
    failed=$((failed + 1))
  fi
}

summary() {
  if [ "$todo" -ne 0 ]; then
    echo "$todo test(s) marked todo: known server gaps, listed as '# TODO' above"
  fi
  printf '\nclient tests: %d passed, %d failed, %d skipped\n' "$passed" "$failed" "$((skipped + todo))"
  if [ "$failed" -ne 0 ]; then
    exit 1
  fi
}

section "npm ci (client/)"
node --version
if [ -f client/package-lock.json ]; then
  (cd client && npm ci --no-audit --no-fund)
else
  (cd client && npm install --no-audit --no-fund)
fi

section "build, and drift check of the committed client/dist"
cp -a client/dist "$work/dist-before" 2>/dev/null || mkdir -p "$work/dist-before"
(cd client && npm run build)
if diff -r "$work/dist-before" client/dist >"$work/drift.txt"; then
  echo "client/dist is what the sources build"
  passed=$((passed + 1))
else
  echo "client/dist differs from a fresh build: run 'npm run build' in client/ and commit dist/" >&2
  head -50 "$work/drift.txt" >&2
  failed=$((failed + 1))
fi

section "unit tests"
run_node_tests unit test/unit/

section "end-to-end tests (miniapp dev: embedded store and moto)"
export MINIAPP_VENV="${MINIAPP_VENV:-$HOME/.cache/miniapp/venv}"
if bash scripts/ensure-venv.sh && cargo build --locked --bin miniapp --bin session --bin db; then
  run_node_tests e2e --test-concurrency=1 test/e2e/
else
  echo "cannot prepare the end-to-end tests (venv or cargo build failed)" >&2
  failed=$((failed + 1))
fi

cd "$repo"
summary
