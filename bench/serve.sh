#!/usr/bin/env bash
# The dashboard at 10,000 nodes: `oss serve` over a state of N sim nodes (written directly, no
# apply), the Fleet page and /api/fleet (first page of 500 rows, and 5,000 rows), a node page
# and /api/history, each fetched RUNS times with curl; wall time per request. Prints a
# markdown section body; progress goes to stderr.
#   bash bench/serve.sh            (RUNS=20 NODES=10000 by default)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-20}
nodes=${NODES:-10000}
command -v python3 >/dev/null || { echo "bench needs python3" >&2; exit 1; }
command -v curl >/dev/null || { echo "bench needs curl (apt-get install curl)" >&2; exit 1; }
echo "serve: building" >&2
cargo build --release --quiet
oss="$PWD/target/release/oss"
work=$(mktemp -d)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

# A strategy on the three simulated clouds, and a state of $nodes nodes spread over their
# locations (the state document's own format, docs in src/state/document.rs).
python3 - "$nodes" "$work" "$PWD/examples" <<'PY'
import json, sys, os
n, work, examples = int(sys.argv[1]), sys.argv[2], sys.argv[3]
s = json.load(open(os.path.join(examples, "cheapest-across-providers.json")))
for o in s["provider"]["options"]:
    o["sim"]["catalog"] = os.path.join(examples, o["sim"]["catalog"])
    o["sim"]["latency_ms"] = 0
s["node"]["count"] = n
json.dump(s, open(os.path.join(work, "strategy.json"), "w"))
places = []
for o in s["provider"]["options"]:
    cat = json.load(open(o["sim"]["catalog"]))
    for price in cat["prices"]:
        places.append((o["sim"]["name"], price["location"], price["size"], price["hourly_price"]))
resources = []
for i in range(n):
    provider, location, size, price = places[i % len(places)]
    resources.append({
        "address": f"node.app[{i}]", "kind": "node",
        "placement": {"provider": provider, "location": location, "size": size,
                      "image": "ubuntu-22.04", "hourly_price": price, "currency": "USD"},
        "provider_id": f"sim-{i:06d}",
        "attributes": {"name": f"app-{i}", "index": i, "ports": [443], "tags": {"example": "cheapest"}},
        "observed": {"id": f"sim-{i:06d}", "private_ip": f"10.{i // 65536}.{i // 256 % 256}.{i % 256}"},
    })
state = {"format_version": 1, "serial": 1, "lineage": "00000000-0000-4000-8000-000000000001",
         "strategy": "cheapest", "resources": resources}
os.makedirs(os.path.join(work, "state"))
json.dump(state, open(os.path.join(work, "state", "cheapest.state.json"), "w"), indent=2)
PY

echo "serve: starting oss serve over $nodes nodes" >&2
(cd "$work" && exec "$oss" serve --listen 127.0.0.1:0 2> serve.log) &
pid=$!
for _ in $(seq 600); do
  grep -q "Serving the dashboard" "$work/serve.log" 2>/dev/null && break
  sleep 0.1
done
addr=$(grep -o '127\.0\.0\.1:[0-9]*' "$work/serve.log" | head -1)
[ -n "$addr" ] || { echo "serve: oss serve did not start:" >&2; cat "$work/serve.log" >&2; exit 1; }

paths=("/" "/api/fleet" "/?limit=5000" "/api/fleet?limit=5000" "/nodes/node.app%5B9999%5D" "/api/history")
for path in "${paths[@]}"; do
  echo "serve: GET $path, $runs runs" >&2
  code=$(curl -s -o "$work/body" -w '%{http_code}' "http://$addr$path")
  [ "$code" = 200 ] || { echo "serve: GET $path answered $code" >&2; exit 1; }
  size=$(wc -c < "$work/body")
  for _ in $(seq "$runs"); do
    curl -s -o /dev/null -w '%{time_total}\n' "http://$addr$path"
  done > "$work/times"
  python3 - "$path" "$size" "$work/times" >> "$work/rows" <<'PY'
import statistics, sys
path, size, times = sys.argv[1], int(sys.argv[2]), [float(t) * 1000 for t in open(sys.argv[3])]
m = statistics.median(times)
goal = ""
if path in ("/", "/api/fleet"):
    goal = "≤ 200 ms " + ("✓" if m <= 200 else "✗")
print(f"| `{path}` | {size / 1024:.0f} | {m:.1f} | {min(times):.1f} | {max(times):.1f} | {goal} |")
PY
done

echo "Command: \`bash bench/run.sh serve\` (or \`bash bench/serve.sh\`). Date: $(date -u +%Y-%m-%d). Release build, $runs requests each."
echo
echo "\`oss serve\` over a local state of $nodes \`sim\` nodes (the state file written directly,"
echo "spread over every priced location of the three simulated clouds), one curl request at a time"
echo "over loopback, wall time from connect to the last byte. Pages are paginated: 500 rows by"
echo "default, \`limit\` up to 5,000; totals, counts and the map always cover the whole fleet."
echo
echo "| request | body (KiB) | median (ms) | min | max | goal |"
echo "|---|---:|---:|---:|---:|---|"
cat "$work/rows"
