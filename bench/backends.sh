#!/usr/bin/env bash
# State-backend benchmark: journal append latency and bytes per finished step, final write, for
# local files and PostgreSQL (a throwaway server started here), then a real 1,000-node `sim`
# apply per backend. Prints markdown.   bash bench/backends.sh
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(bash scripts/postgres.sh)"
trap 'bash scripts/postgres.sh stop "$OSS_TEST_PG_DIR"' EXIT
cat <<EOF
Command: \`bash bench/backends.sh\` (starts a throwaway PostgreSQL 15 on loopback, fsync off as
in the tests; runs \`cargo bench --bench backends\`, then real applies). Date: $(date -u +%F).

In-process, 1,000 node records shaped like a real apply's: each finished step is a journal
append that is durable when it returns (local: write + fdatasync of one line; PostgreSQL: one
INSERT, autocommit), then one final compare-and-swap write of the whole state.

EOF
cargo bench --quiet --bench backends 2>/dev/null
cargo build --release --quiet
oss="$PWD/target/release/oss"
work=$(mktemp -d); trap 'rm -rf "$work"; bash scripts/postgres.sh stop "$OSS_TEST_PG_DIR"' EXIT
echo
echo "End to end, \`oss apply\` of 1,000 nodes on a \`sim\` provider (no API latency), \`--parallelism 50\`:"
echo
echo "| backend | nodes | apply wall time (s) |"
echo "|---|---:|---:|"
for backend in local postgres; do
  mkdir -p "$work/$backend"
  python3 - "$work/$backend/strategy.json" "$PWD/examples/sim/cloud-b.json" "$backend" <<'PY'
import json, sys
d = {"name": "bench-" + sys.argv[3], "default_pick": "cheapest",
     "provider": {"options": [{"sim": {"name": "cloud-b", "catalog": sys.argv[2]}}]},
     "node": {"name": "app", "count": 1000, "image": {"options": [{"os": "ubuntu"}]},
              "hardware": {"options": [{"min_vcpus": 2}]}, "location": {"options": [{"country": "AU"}]}}}
if sys.argv[3] == "postgres":
    d["state"] = {"backend": "postgres", "url": "env.OSS_TEST_PG_URL"}
json.dump(d, open(sys.argv[1], "w"))
PY
  start=$EPOCHREALTIME
  (cd "$work/$backend" && "$oss" apply --auto-approve --parallelism 50 >/dev/null 2>&1)
  end=$EPOCHREALTIME
  echo "| $backend | 1000 | $(awk "BEGIN{printf \"%.2f\", $end - $start}") |"
  (cd "$work/$backend" && "$oss" destroy --auto-approve --parallelism 50 >/dev/null 2>&1)
done
