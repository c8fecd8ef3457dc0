#!/usr/bin/env bash
# /metrics with the apply families: `oss serve` over a small sim state and an applies store
# (state/applies.jsonl, plus the rotated applies.jsonl.1) of N records written directly, each
# request fetched RUNS times with curl; wall time per scrape, since every scrape reads and sums
# the records. Then one real apply of NODES sim nodes on a rate-limited provider, and what its
# record counted. Prints a markdown section body; progress goes to stderr.
#   bash bench/metrics.sh            (RUNS=20 NODES=200 by default)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-20}
nodes=${NODES:-200}
command -v python3 >/dev/null || { echo "bench needs python3" >&2; exit 1; }
command -v curl >/dev/null || { echo "bench needs curl (apt-get install curl)" >&2; exit 1; }
echo "metrics: building" >&2
cargo build --release --quiet
oss="$PWD/target/release/oss"
work=$(mktemp -d)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

python3 - "$nodes" "$work" "$PWD/examples" <<'PY'
import json, sys, os
n, work, examples = int(sys.argv[1]), sys.argv[2], sys.argv[3]
s = json.load(open(os.path.join(examples, "cheapest-across-providers.json")))
for o in s["provider"]["options"]:
    o["sim"]["catalog"] = os.path.join(examples, o["sim"]["catalog"])
    o["sim"]["latency_ms"] = 5
    o["sim"]["rate_limit"] = 50
s["node"]["count"] = n
json.dump(s, open(os.path.join(work, "strategy.json"), "w"))
PY

# Writes $1 records into the store of state directory $2 (rotated file first, ~330 bytes each).
records() {
  python3 - "$1" "$2" <<'PY'
import json, sys, os
n, state = int(sys.argv[1]), sys.argv[2]
os.makedirs(state, exist_ok=True)
for name in ("applies.jsonl", "applies.jsonl.1"):
    try: os.remove(os.path.join(state, name))
    except FileNotFoundError: pass
per_file = 3100  # about 1 MiB, the rotation threshold
for i in range(n):
    name = "applies.jsonl.1" if n > per_file and i < n - per_file else "applies.jsonl"
    calls = {"calls": 40 + i % 7, "throttles": i % 3, "retry_errors": i % 3, "fail_over_errors": 0, "fatal_errors": 0}
    record = {"at": "2026-12-03T08:00:00Z", "command": ["apply", "destroy", "repair"][i % 3],
              "seconds": 1.5 + i % 50, "steps": {"created": 4, "failed": i % 2},
              "providers": {"cloud-a": calls, "cloud-b": calls, "cloud-c": calls}}
    open(os.path.join(state, name), "a").write(json.dumps(record) + "\n")
PY
}

rows="$work/rows"
for count in 0 100 3000 6000; do
  records "$count" "$work/state"
  bytes=$(cat "$work/state"/applies.jsonl* 2>/dev/null | wc -c)
  (cd "$work" && exec "$oss" serve --listen 127.0.0.1:0 2> serve.log) &
  pid=$!
  for _ in $(seq 600); do
    grep -q "Serving the dashboard" "$work/serve.log" 2>/dev/null && break
    sleep 0.1
  done
  addr=$(grep -o '127\.0\.0\.1:[0-9]*' "$work/serve.log" | head -1)
  [ -n "$addr" ] || { echo "metrics: oss serve did not start:" >&2; cat "$work/serve.log" >&2; exit 1; }
  echo "metrics: GET /metrics over $count records, $runs runs" >&2
  code=$(curl -s -o "$work/body" -w '%{http_code}' "http://$addr/metrics")
  [ "$code" = 200 ] || { echo "metrics: GET /metrics answered $code" >&2; exit 1; }
  want=$(( count / 3 + (count % 3 > 0 ? 1 : 0) ))
  grep -q "^oss_apply_duration_seconds_count{command=\"apply\"} $want\$" "$work/body" \
    || { echo "metrics: the scrape does not count $want applies" >&2; exit 1; }
  for _ in $(seq "$runs"); do
    curl -s -o /dev/null -w '%{time_total}\n' "http://$addr/metrics"
  done > "$work/times"
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
  python3 - "$count" "$bytes" "$work/times" >> "$rows" <<'PY'
import statistics, sys
count, size, times = int(sys.argv[1]), int(sys.argv[2]), [float(t) * 1000 for t in open(sys.argv[3])]
print(f"| {count} | {size / 1024:.0f} | {statistics.median(times):.1f} | {min(times):.1f} | {max(times):.1f} |")
PY
done

echo "metrics: apply of $nodes nodes" >&2
records 0 "$work/state"
start=$(date +%s.%N)
(cd "$work" && "$oss" apply --auto-approve --parallelism 20 > apply.log 2>&1)
end=$(date +%s.%N)
summary=$(python3 - "$work/state/applies.jsonl" "$start" "$end" <<'PY'
import json, sys
record = json.loads(open(sys.argv[1]).read().splitlines()[-1])
wall = float(sys.argv[3]) - float(sys.argv[2])
p = record["providers"]
calls = sum(c["calls"] for c in p.values()); thr = sum(c["throttles"] for c in p.values())
print(f"{record['steps']['created']} created in {record['seconds']:.2f} s (the command: {wall:.2f} s), "
      f"{calls} API calls, {thr} throttled")
PY
)

echo "Command: \`bash bench/run.sh metrics\` (or \`bash bench/metrics.sh\`). Date: $(date -u +%Y-%m-%d). Release build, $runs requests each."
echo
echo "\`GET /metrics\` of \`oss serve\` (no state) with the applies store holding N records written"
echo "directly (three providers each; past 3,100 records, about 1 MiB, the older ones in the"
echo "rotated \`applies.jsonl.1\`, which is the most the store keeps). Every scrape reads and sums"
echo "the records; one curl request at a time over loopback."
echo
echo "| records | store (KiB) | median (ms) | min | max |"
echo "|---:|---:|---:|---:|---:|"
cat "$rows"
echo
echo "A real apply of $nodes \`sim\` nodes over three providers at 50 calls/s each (\`latency_ms: 5\`,"
echo "parallelism 20), as its record counted it: $summary."
