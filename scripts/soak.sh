#!/usr/bin/env bash
# The bounded soak: both functions (release build) in HTTP-server mode on the embedded store,
# loopback only, mixed signed traffic for a fixed time; prints the figures (requests, rps,
# latency, errors, RSS) as Markdown and fails on any error or when RSS is not flat. Not part
# of scripts/test.sh (tests/soak.rs runs the same code for a few seconds there).
#
#   bash scripts/soak.sh [seconds] [connections]      # defaults: 60 64
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
exec cargo run --release --locked --quiet -p integration-tests --example soak -- "${1:-60}" "${2:-64}"
