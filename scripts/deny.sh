#!/usr/bin/env bash
# Supply-chain checks, offline: `cargo deny check` (advisories, bans, licenses, sources).
#
#   bash scripts/deny.sh
#
# These machines cannot fetch the RustSec advisory database. A dated snapshot of it ships with the
# project's shared material (advisory-db/, see its SNAPSHOT.md); this script copies it, as the git
# repository cargo-deny expects, to the db-path of deny.toml, and runs cargo-deny with fetching off.
# MINIAPP_ADVISORY_DB names the snapshot when it is somewhere else.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

snapshot=""
for candidate in "${MINIAPP_ADVISORY_DB:-}" ../shared/advisory-db /work/shared/advisory-db; do
  if [ -n "$candidate" ] && [ -f "$candidate/SNAPSHOT.md" ]; then
    snapshot="$(cd "$candidate" && pwd)"
    break
  fi
done

# cargo-deny's directory name for the default advisory-db URL.
db="$HOME/.cache/miniapp/advisory-dbs/advisory-db-3157b0e258782691"
if [ -n "$snapshot" ]; then
  if ! cmp -s "$snapshot/SNAPSHOT.md" "$db/SNAPSHOT.md" 2>/dev/null; then
    rm -rf "$db"
    mkdir -p "$(dirname "$db")"
    cp -R "$snapshot" "$db"
    git -C "$db" init -q
    git -C "$db" add -A
    git -C "$db" -c user.name=deny -c user.email=deny@localhost commit -q -m "RustSec snapshot"
  fi
elif [ -f "$db/SNAPSHOT.md" ]; then
  echo "no advisory-db snapshot beside the repository: using the copy made earlier in $db"
else
  # A supply-chain gate that passes without its database would say nothing: refuse.
  echo "no advisory-db snapshot found: set MINIAPP_ADVISORY_DB to the RustSec snapshot's directory" >&2
  exit 1
fi
committed="$(grep -o 'committed [0-9-]*' "$db/SNAPSHOT.md" | head -1 | cut -d' ' -f2)"
echo "advisory database: $(grep -o 'commit [0-9a-f]*' "$db/SNAPSHOT.md" | head -1), committed $committed"
if age_days=$(( ( $(date +%s) - $(date -d "$committed" +%s) ) / 86400 )) 2>/dev/null; then
  if [ "$age_days" -gt 90 ]; then
    echo "warning: the advisory snapshot is $age_days days old; advisories published since are not checked"
  fi
fi

cargo deny --offline --locked check advisories bans licenses sources
