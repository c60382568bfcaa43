#!/usr/bin/env bash
# The benchmark: builds the release binaries, measures cold starts, warm load (wrk), CPU and
# memory per request, connections per request and Lambda cost, next to a minimal Rust function
# (the floor) and the Node.js implementation, and rewrites the generated part of
# docs/benchmarks.md, its plots (docs/benchmarks/*.svg) and the README's figures.
#
#   bash scripts/bench.sh                  # full run: about 15 minutes on 2 cores
#   bash scripts/bench.sh --quick          # or BENCH_QUICK=1: a short check of the harness (~3 min)
#   bash scripts/bench.sh --no-node        # without the Node.js implementation
#   bash scripts/bench.sh --help           # every option (runs, seconds, repetitions, paths)
#
# Not part of the test command. Needs: the Rust toolchain, python3 (the project virtualenv with
# moto, made by scripts/ensure-venv.sh), wrk (installed with apt-get when missing and possible),
# and for the Node.js implementation node + npm: a copy of ../shared/peers/node-peer (or
# $NODE_PEER_SRC) with its locked dependencies is made once in ~/.cache/miniapp/node-peer.
# Everything runs on loopback. The machine's load shows in every figure: the report records it.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CARGO_INCREMENTAL=0

export MINIAPP_VENV="${MINIAPP_VENV:-$HOME/.cache/miniapp/venv}"
bash scripts/ensure-venv.sh
export PATH="$MINIAPP_VENV/bin:$PATH"
export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}"
export AWS_EC2_METADATA_DISABLED=true

if ! command -v wrk >/dev/null 2>&1; then
  echo "bench: installing wrk (Debian package)" >&2
  if [ "$(id -u)" = 0 ]; then
    apt-get install -y wrk || { apt-get update && apt-get install -y wrk; }
  else
    sudo apt-get install -y wrk || { sudo apt-get update && sudo apt-get install -y wrk; }
  fi
fi

# The Node.js implementation, as it is, with the dependencies its package-lock.json names.
want_node=1
for arg in "$@"; do
  case "$arg" in --no-node | --smoke | --help | -h) want_node=0 ;; esac
done
peer_src="${NODE_PEER_SRC:-../shared/peers/node-peer}"
[ -d "$peer_src" ] || peer_src=/work/shared/peers/node-peer
peer="$HOME/.cache/miniapp/node-peer"
if [ "$want_node" = 1 ] && [ -z "${BENCH_NODE_PEER:-}" ]; then
  if [ ! -d "$peer/node_modules" ] || ! cmp -s "$peer_src/package-lock.json" "$peer/package-lock.json" \
     || ! diff -rq "$peer_src/src" "$peer/src" >/dev/null; then
    if [ -d "$peer_src" ] && command -v npm >/dev/null 2>&1; then
      echo "bench: installing the Node.js implementation into $peer" >&2
      rm -rf "$peer.tmp"
      cp -r "$peer_src" "$peer.tmp" && chmod -R u+w "$peer.tmp"
      (cd "$peer.tmp" && npm ci --no-audit --no-fund)
      rm -rf "$peer" && mv "$peer.tmp" "$peer"
    else
      echo "bench: no Node.js implementation ($peer_src) or no npm: measuring Rust only" >&2
    fi
  fi
  [ -d "$peer/node_modules" ] && export BENCH_NODE_PEER="$peer"
fi

if [ "${BENCH_QUICK:-0}" = 1 ]; then
  set -- --quick "$@"
fi

# The harness builds what it measures itself (release: thin LTO, a few minutes the first time).
cargo build --release --locked -p bench --bin bench
exec "${CARGO_TARGET_DIR:-target}/release/bench" "$@"
