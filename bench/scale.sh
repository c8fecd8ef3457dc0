#!/usr/bin/env bash
# Scale curve of planning (figure 1): the plan pipeline in-process with criterion
# (benches/plan.rs) and `oss plan --refresh=false` as a process with its peak RSS, at 1,000,
# 10,000 and 100,000 local nodes; then the process alone at 1,000,000 `sim` nodes (issue 18,
# goal 5: no criterion there, one plan takes seconds). Prints a markdown section body;
# progress goes to stderr.
#   bash bench/scale.sh    (RUNS=5 SIZES="1000 10000 100000" SIM_RUNS=3 SIM_NODES=1000000)
#   SIM_NODES=0 skips the sim plan.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-5}
sizes=${SIZES:-1000 10000 100000}
sim_runs=${SIM_RUNS:-3}
sim_nodes=${SIM_NODES:-1000000}
command -v python3 >/dev/null || { echo "bench needs python3" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "bench needs /usr/bin/time (apt-get install time)" >&2; exit 1; }
echo "scale: building" >&2
cargo build --release --quiet
oss="$PWD/target/release/oss"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The machine is shared: the load beside the numbers says how noisy they are.
load() { cut -d' ' -f1 /proc/loadavg; }
load > "$work/load-start.txt"

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
    (cd "$work/$n" && /usr/bin/time -f "%e %M %U %S" "$oss" plan --refresh=false 2>&1 >/dev/null | tail -1) \
      >> "$work/process-$n.txt"
  done
done

# The largest plan: N nodes on one `sim` provider (cheapest in AU, latency 0), no state.
if [ "$sim_nodes" -gt 0 ]; then
  mkdir -p "$work/sim"
  python3 - "$work/sim/strategy.json" "$PWD/examples/sim/cloud-b.json" "$sim_nodes" <<'PY'
import json, sys
path, catalog, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
json.dump({"name": "bench", "default_pick": "cheapest",
           "provider": {"options": [{"sim": {"name": "cloud-b", "catalog": catalog, "latency_ms": 0}}]},
           "node": {"name": "app", "count": count, "image": {"options": [{"os": "ubuntu"}]},
                    "hardware": {"options": [{"min_vcpus": 2}]},
                    "location": {"options": [{"country": "AU"}]}}}, open(path, "w"))
PY
  for r in $(seq "$sim_runs"); do
    echo "scale: oss plan, $sim_nodes sim nodes, run $r of $sim_runs" >&2
    (cd "$work/sim" && /usr/bin/time -f "%e %M %U %S" "$oss" plan --refresh=false 2>&1 >/dev/null | tail -1) \
      >> "$work/process-sim.txt"
  done
fi
load > "$work/load-end.txt"

python3 - "$work" "$runs" "$sizes" "$sim_runs" "$sim_nodes" <<'PY'
import json, os, statistics, sys, datetime
work, runs, sizes = sys.argv[1], int(sys.argv[2]), [int(n) for n in sys.argv[3].split()]
sim_runs, sim_nodes = int(sys.argv[4]), int(sys.argv[5])
# Issue 18's goals for the whole process, by node count: (seconds, MB).
goals = {10000: (0.5, 200), 100000: (1.0, 400), 1000000: (15.0, 4000)}

def goal(n, secs, mb):
    if n not in goals:
        return ""
    s, m = goals[n]
    ok = "✓" if secs <= s and mb <= m else "✗"
    size = f"{m // 1000} GB" if m >= 1000 else f"{m} MB"
    return f"≤ {s:g} s, ≤ {size} {ok}"

def spread(values):
    return statistics.median(values), min(values), max(values)

def process(name):
    """(median, min, max) of the wall time and of the peak RSS in MB of one size's runs, and
    the median CPU time (user + system): less moved by other work on the machine."""
    rows = [line.split() for line in open(f"{work}/process-{name}.txt")]
    cpu = statistics.median(float(r[2]) + float(r[3]) for r in rows)
    return spread([float(r[0]) for r in rows]), spread([int(r[1]) / 1024 for r in rows]), cpu

print(f"Command: `bash bench/run.sh scale` (or `bash bench/scale.sh`). "
      f"Date: {datetime.date.today().isoformat()}. Release build.")
print()
print("The sample strategy grown to N local nodes, no state (N creates), no refresh.")
print()
print("- *In-process* (criterion, `benches/plan.rs`, 10 samples): strategy parse and schema check,")
print("  compile (catalogs, placement, petgraph DAG), diff against the empty state, text plan")
print("  rendered to a string, on the binary's allocator (mimalloc). No process start, nothing")
print("  written.")
print(f"- *Process*: `oss plan --refresh=false` with the text plan to /dev/null, {runs} runs:")
print("  wall time, CPU time (user + system) and peak RSS (`/usr/bin/time`), process start and")
print("  output included. The goal is on the wall time's median; the CPU time says what the")
print("  plan costs when other work shares the cores.")
print()
print("| nodes | in-process median (ms) | min | max | µs per node | process median (s) | min | max | CPU median (s) | peak RSS median (MB) | min | max | goal |")
print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
per_node = {}
for n in sizes:
    sample = json.load(open(f"target/criterion/plan/{n}/new/sample.json"))
    ms = [t / i / 1e6 for t, i in zip(sample["times"], sample["iters"])]
    m, lo, hi = spread(ms)
    per_node[n] = m * 1000 / n
    (s, slo, shi), (r, rlo, rhi), cpu = process(n)
    print(f"| {n} | {m:.1f} | {lo:.1f} | {hi:.1f} | {per_node[n]:.2f} | {s:.2f} | {slo:.2f} | {shi:.2f} | {cpu:.2f} | {r:.0f} | {rlo:.0f} | {rhi:.0f} | {goal(n, s, r)} |")
print()
first, last = sizes[0], sizes[-1]
steps = ", ".join(f"{a:,} → {b:,}: ×{per_node[b] / per_node[a]:.2f}" for a, b in zip(sizes, sizes[1:]))
print(f"Linearity: time per node (in-process) changes by {steps}; "
      f"a linear curve keeps it at ×1.00, a quadratic one would multiply it by 10 at each step.")
if sim_nodes > 0:
    (s, slo, shi), (r, rlo, rhi), cpu = process("sim")
    print()
    print(f"*Process* at {sim_nodes:,} nodes: one `sim` provider (`examples/sim/cloud-b.json`, "
          f"`latency_ms: 0`), cheapest")
    print(f"placement in AU, no state, `oss plan --refresh=false` to /dev/null, {sim_runs} runs "
          f"(no in-process figure: one plan takes seconds).")
    print()
    print("| nodes | process median (s) | min | max | CPU median (s) | peak RSS median (MB) | min | max | goal |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    print(f"| {sim_nodes} | {s:.2f} | {slo:.2f} | {shi:.2f} | {cpu:.2f} | {r:.0f} | {rlo:.0f} | {rhi:.0f} | {goal(sim_nodes, s, r)} |")
start, end = (open(f"{work}/load-{w}.txt").read().strip() for w in ("start", "end"))
print()
print(f"Load average (1 minute) on this {os.cpu_count()}-core machine: {start} at the start, {end} at the end "
      f"(above 0: other work shared the cores, and the wall times carry its noise).")
PY
