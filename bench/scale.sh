#!/usr/bin/env bash
# Scale curve of planning (figure 1): the plan pipeline in-process with criterion
# (benches/plan.rs) and `oss plan --refresh=false` as a process with its peak RSS, at 1,000,
# 10,000 and 100,000 local nodes. Prints a markdown section body; progress goes to stderr.
#   bash bench/scale.sh            (RUNS=5 SIZES="1000 10000 100000" by default)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-5}
sizes=${SIZES:-1000 10000 100000}
command -v python3 >/dev/null || { echo "bench needs python3" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "bench needs /usr/bin/time (apt-get install time)" >&2; exit 1; }
echo "scale: building" >&2
cargo build --release --quiet
oss="$PWD/target/release/oss"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "scale: criterion, plan pipeline in-process (about a minute)" >&2
rm -rf target/criterion/plan
OSS_BENCH_SIZES=$(echo "$sizes" | tr ' ' ',') cargo bench --quiet --bench plan -- --noplot >&2

# Whole process: wall time and peak RSS of `oss plan --refresh=false`, text plan to /dev/null.
for n in $sizes; do
  echo "scale: oss plan, $n nodes, $runs runs" >&2
  mkdir -p "$work/$n"
  python3 - "$n" "$work/$n/strategy.json" <<'PY'
import json, sys
d = json.load(open("strategy.sample.json"))
d["node"]["count"] = int(sys.argv[1])
json.dump(d, open(sys.argv[2], "w"), indent=2)
PY
  for _ in $(seq "$runs"); do
    (cd "$work/$n" && /usr/bin/time -f "%e %M" "$oss" plan --refresh=false 2>&1 >/dev/null | tail -1) \
      >> "$work/process-$n.txt"
  done
done

python3 - "$work" "$runs" "$sizes" <<'PY'
import json, statistics, sys, datetime
work, runs, sizes = sys.argv[1], int(sys.argv[2]), [int(n) for n in sys.argv[3].split()]

def spread(values):
    return statistics.median(values), min(values), max(values)

print(f"Command: `bash bench/run.sh scale` (or `bash bench/scale.sh`). "
      f"Date: {datetime.date.today().isoformat()}. Release build.")
print()
print("The sample strategy grown to N local nodes, no state (N creates), no refresh.")
print()
print("- *In-process* (criterion, `benches/plan.rs`, 10 samples): strategy parse and schema check,")
print("  compile (catalogs, placement, petgraph DAG), diff against the empty state, text plan")
print("  rendered to a string. No process start, nothing written.")
print(f"- *Process*: `oss plan --refresh=false` with the text plan to /dev/null, {runs} runs:")
print("  wall time and peak RSS (`/usr/bin/time`), process start and output included.")
print()
print("| nodes | in-process median (ms) | min | max | µs per node | process median (s) | min | max | peak RSS median (MB) | min | max | goal |")
print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
per_node = {}
for n in sizes:
    sample = json.load(open(f"target/criterion/plan/{n}/new/sample.json"))
    ms = [t / i / 1e6 for t, i in zip(sample["times"], sample["iters"])]
    m, lo, hi = spread(ms)
    per_node[n] = m * 1000 / n
    rows = [line.split() for line in open(f"{work}/process-{n}.txt")]
    secs = [float(r[0]) for r in rows]
    mbs = [int(r[1]) / 1024 for r in rows]
    s, slo, shi = spread(secs)
    r, rlo, rhi = spread(mbs)
    goal = ""
    if n == 10000:
        ok = "✓" if s <= 0.5 and r <= 200 else "✗"
        goal = f"≤ 0.5 s, ≤ 200 MB {ok}"
    print(f"| {n} | {m:.1f} | {lo:.1f} | {hi:.1f} | {per_node[n]:.2f} | {s:.2f} | {slo:.2f} | {shi:.2f} | {r:.0f} | {rlo:.0f} | {rhi:.0f} | {goal} |")
print()
first, last = sizes[0], sizes[-1]
steps = ", ".join(f"{a:,} → {b:,}: ×{per_node[b] / per_node[a]:.2f}" for a, b in zip(sizes, sizes[1:]))
print(f"Linearity: time per node (in-process) changes by {steps}; "
      f"a linear curve keeps it at ×1.00, a quadratic one would multiply it by 10 at each step.")
PY
