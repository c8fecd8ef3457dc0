#!/usr/bin/env bash
# Apply grows linearly (issue 18, goal 5): `oss apply` of N `sim` nodes at latency 0, the sim's
# own bookkeeping (its world file) included, at N = 1,000 and 10,000; the ratio of the medians.
# Prints a markdown section body; progress goes to stderr.
#   bash bench/sim-scale.sh     (RUNS=3 SIZES="1000 10000" P=100)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-3}
sizes=${SIZES:-1000 10000}
p=${P:-100}
command -v python3 >/dev/null || { echo "bench needs python3" >&2; exit 1; }
echo "sim-scale: building" >&2
cargo build --release --quiet
oss="$PWD/target/release/oss"
catalog="$PWD/examples/sim/cloud-b.json"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

for n in $sizes; do
  for r in $(seq "$runs"); do
    echo "sim-scale: $n nodes, run $r of $runs" >&2
    dir="$work/$n-$r"
    mkdir -p "$dir"
    python3 - "$dir/strategy.json" "$catalog" "$n" <<'PY'
import json, sys
path, catalog, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
json.dump({"name": "bench", "default_pick": "cheapest",
           "provider": {"options": [{"sim": {"name": "cloud-b", "catalog": catalog, "latency_ms": 0}}]},
           "node": {"name": "app", "count": count, "image": {"options": [{"os": "ubuntu"}]},
                    "hardware": {"options": [{"min_vcpus": 2}]},
                    "location": {"options": [{"country": "AU"}]}}}, open(path, "w"))
PY
    start=$EPOCHREALTIME
    (cd "$dir" && "$oss" apply --auto-approve --parallelism "$p" >out.txt 2>err.txt) \
      || { echo "sim-scale: the apply failed:" >&2; tail -5 "$dir/out.txt" >&2; exit 1; }
    end=$EPOCHREALTIME
    sim=$(cat "$dir"/state/sim/cloud-b.json* | wc -c)
    echo "$n $(awk "BEGIN{print $end - $start}") $sim" >> "$work/runs.txt"
    rm -rf "$dir"
  done
done

python3 - "$work/runs.txt" "$runs" "$p" <<'PY'
import datetime, statistics, sys
rows = [line.split() for line in open(sys.argv[1])]
runs, p = int(sys.argv[2]), int(sys.argv[3])
by = {}
for n, secs, sim in rows:
    by.setdefault(int(n), []).append((float(secs), int(sim)))
print(f"Command: `bash bench/run.sh sim-scale` (or `bash bench/sim-scale.sh`). "
      f"Date: {datetime.date.today().isoformat()}. Release build, {runs} runs each, a fresh state each run.")
print()
print(f"`oss apply --auto-approve --parallelism {p}` of N nodes on one `sim` provider at `latency_ms: 0`:")
print("the whole process (plan included), the simulated cloud's own bookkeeping (its world file:")
print("a snapshot and an append-only log of changes) included.")
print()
print("| nodes | apply median (s) | min | max | sim world files at the end (MB) |")
print("|---:|---:|---:|---:|---:|")
med = {}
for n in sorted(by):
    secs = [s for s, _ in by[n]]
    med[n] = statistics.median(secs)
    print(f"| {n:,} | {med[n]:.2f} | {min(secs):.2f} | {max(secs):.2f} | {statistics.median(m for _, m in by[n]) / 1e6:.1f} |")
sizes = sorted(by)
if len(sizes) >= 2:
    a, b = sizes[0], sizes[-1]
    ratio = med[b] / med[a]
    goal = ""
    if (a, b) == (1000, 10000):
        goal = f" (goal ≤ 12×: {'✓' if ratio <= 12 else '✗'})"
    print()
    print(f"Growth: {b:,} nodes take {ratio:.1f}× the time of {a:,} (medians){goal}; linear would be {b / a:.0f}×.")
PY
