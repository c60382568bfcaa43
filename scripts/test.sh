#!/usr/bin/env bash
# The project's one test command: formatting, lints, every test, and the benches once each.
#
#   bash scripts/test.sh
#
# Needs the Rust toolchain (with rustfmt and clippy) and python3 with venv. The Python tools the
# tests drive (moto_server, cfn-lint, sam, cargo-lambda) are installed into
# ${MINIAPP_VENV:-$HOME/.cache/miniapp/venv} by scripts/ensure-venv.sh. The tests start the
# servers they need themselves, on loopback ports. CARGO_TARGET_DIR is honoured when set.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

section() {
  printf '\n==== %s ====\n' "$*"
}

section "Python tools (scripts/ensure-venv.sh)"
export MINIAPP_VENV="${MINIAPP_VENV:-$HOME/.cache/miniapp/venv}"
bash scripts/ensure-venv.sh
export PATH="$MINIAPP_VENV/bin:$PATH"
# Offline AWS tooling: a region, no instance-metadata lookups, no telemetry.
export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}"
export AWS_EC2_METADATA_DISABLED=true
export SAM_CLI_TELEMETRY=0

section "cargo fmt --check"
cargo fmt --all -- --check

section "cargo clippy (all targets, warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

section "cargo test"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
cargo test --workspace --locked 2>&1 | tee "$log"

# Run through `cargo test`, a criterion bench runs each benchmark once as a test, in the test
# profile the step above already built: it proves the benches work without a release build.
section "benches (each once, test mode)"
cargo test --workspace --locked --bench '*'

# Property-based API tests: schemathesis from openapi.yaml against a real `miniapp dev`, signed
# and unsigned; in its own virtualenv. Prints "schemathesis: N operations, M test cases, F failures".
section "schemathesis against miniapp dev (scripts/schemathesis.sh)"
bash scripts/schemathesis.sh

section "client SDK (scripts/test-client.sh)"
bash scripts/test-client.sh 2>&1 | tee -a "$log"

section "Todo app: Mini Program page and web page (scripts/test-todo.sh)"
bash scripts/test-todo.sh 2>&1 | tee -a "$log"

section "cargo deny (advisories from the offline snapshot, bans, licenses, sources)"
bash scripts/deny.sh

section "all checks passed"
# One closing line for the whole run: the sums of every test binary's "test result" line.
# The JS suites print "client tests: N passed, M failed" and "todo tests: ...".
awk '/^test result: /{p+=$4; f+=$6; i+=$8}
     /^(client|todo) tests: /{p+=$3; f+=$5}
     END{printf "tests: %d passed, %d failed, %d skipped\n", p, f, i}' "$log"
