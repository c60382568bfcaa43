#!/usr/bin/env bash
# Tests of the Todo example (examples/todo/): its Mini Program page run in Node under a small
# stand-in of the Mini Program runtime, and its web page in headless Chromium, both against a
# real `miniapp dev` (which also serves the web page at /app/) on a fresh state folder.
#
#   bash scripts/test-todo.sh
#
# Needs Node.js 20.19+ with npm, the Rust toolchain, and Chromium at ${CHROMIUM:-/usr/bin/chromium}
# (Debian: apt-get install chromium; playwright-core drives it, no browser download). The SDK
# comes from client/ as committed (its dist/). CARGO_TARGET_DIR is honoured. Leaves a
# screenshot of the web page in <target>/todo-web.png.
# Ends with one line: "todo tests: N passed, M failed".
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo="$(pwd)"
target="${CARGO_TARGET_DIR:-target}"
case "$target" in /*) ;; *) target="$repo/$target" ;; esac
chromium="${CHROMIUM:-/usr/bin/chromium}"

section() {
  printf '\n==== %s ====\n' "$*"
}

work="$(mktemp -d)"
dev_pid=""
passed=0
failed=0

# Stops miniapp dev (SIGTERM: it kills its function processes and exits) even on failure.
cleanup() {
  if [ -n "$dev_pid" ] && kill -0 "$dev_pid" 2>/dev/null; then
    kill -TERM "$dev_pid" 2>/dev/null || true
    for _ in $(seq 50); do
      kill -0 "$dev_pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$dev_pid" 2>/dev/null || true
    wait "$dev_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

summary() {
  printf '\ntodo tests: %d passed, %d failed\n' "$passed" "$failed"
  if [ "$failed" -ne 0 ]; then
    exit 1
  fi
}

# A step that could not even start the tests: one failure, and stop.
give_up() {
  echo "$*" >&2
  failed=$((failed + 1))
  summary
}

section "prerequisites"
node --version
[ -x "$chromium" ] || give_up "no Chromium at $chromium (Debian: apt-get install -y chromium; or set CHROMIUM)"
[ -f client/dist/miniapp-client.min.js ] || give_up "client/dist is missing: the SDK's build is committed with client/"

section "cargo build --bin miniapp --bin session --bin db"
cargo build --locked --bin miniapp --bin session --bin db || give_up "cargo build failed"

section "npm ci (examples/todo/)"
(cd examples/todo && npm ci --no-audit --no-fund) || give_up "npm ci failed in examples/todo"

section "miniapp dev --port 0 (fresh state in a temporary folder)"
"$target/debug/miniapp" dev --port 0 --bin-dir "$target/debug" --state-dir "$work/state" --quiet \
  >"$work/dev.log" 2>&1 &
dev_pid=$!
for _ in $(seq 600); do
  grep -q '^Ctrl-C stops' "$work/dev.log" && break
  kill -0 "$dev_pid" 2>/dev/null || break
  sleep 0.1
done
url="$(awk '$1 == "API" {print $2; exit}' "$work/dev.log")"
if [ -z "$url" ] || ! grep -q '^Ctrl-C stops' "$work/dev.log"; then
  cat "$work/dev.log" >&2
  give_up "miniapp dev did not start"
fi
grep -E '^  (API|App) ' "$work/dev.log"

section "Mini Program page (Node) and web page (Chromium)"
status=0
(cd examples/todo && MINIAPP_URL="$url" CHROMIUM="$chromium" TODO_SCREENSHOT="$target/todo-web.png" \
  node --test --test-concurrency=1 --test-timeout=120000 \
  --test-reporter=spec --test-reporter-destination=stdout \
  --test-reporter=tap --test-reporter-destination="$work/todo.tap" \
  test/miniprogram.test.js test/web.test.js) || status=$?
if [ -f "$work/todo.tap" ]; then
  passed=$(awk '$1 == "#" && $2 == "pass" {s += $3} END {print s + 0}' "$work/todo.tap")
  failed=$(awk '$1 == "#" && $2 == "fail" {s += $3} END {print s + 0}' "$work/todo.tap")
fi
if [ "$status" -ne 0 ]; then
  if [ "$failed" -eq 0 ]; then
    # The runner failed without a failing test (a crash, a hook): count it as one failure.
    failed=1
  fi
  echo "--- miniapp dev's output (last 40 lines) ---" >&2
  tail -40 "$work/dev.log" >&2
else
  echo "screenshot: $target/todo-web.png"
fi

summary
