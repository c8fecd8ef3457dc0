#!/usr/bin/env bash
# Probe overhead of `oss monitor` for N nodes (1,000 by default) at a 5 s interval: a state of
# N local nodes (written directly, no apply) whose endpoints are N loopback TCP listeners of
# one Python asyncio process; `oss monitor --once` (one round: every node probed once, which
# with healthy_threshold 1 gives every verdict) and `oss monitor --for 20s` (rounds every 5 s),
# RUNS times each; wall and CPU time (user + system of oss) per run and per round. Prints a
# markdown section body; progress goes to stderr.
#   bash bench/monitor.sh          (RUNS=5 NODES=1000 by default)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-5}
nodes=${NODES:-1000}
command -v python3 >/dev/null || { echo "bench needs python3" >&2; exit 1; }
# N listening sockets, and up to 256 probes in flight.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
echo "monitor: building" >&2
cargo build --release --quiet
oss="$PWD/target/release/oss"
work=$(mktemp -d)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

# The listeners: N ports on 127.0.0.1, each accepting and closing at once; their ports in a file.
python3 - "$nodes" "$work/ports" <<'PY' &
import asyncio, sys
n, out = int(sys.argv[1]), sys.argv[2]
async def main():
    async def handle(reader, writer):
        writer.close()
    servers = [await asyncio.start_server(handle, "127.0.0.1", 0) for _ in range(n)]
    with open(out + ".tmp", "w") as f:
        f.write("\n".join(str(s.sockets[0].getsockname()[1]) for s in servers))
    import os; os.rename(out + ".tmp", out)
    await asyncio.Event().wait()
asyncio.run(main())
PY
pid=$!
for _ in $(seq 300); do [ -f "$work/ports" ] && break; sleep 0.1; done
[ -f "$work/ports" ] || { echo "monitor: the listeners did not start" >&2; exit 1; }

# The sample strategy with a TCP health check every 5 s, and a state of N nodes, each at one
# listener (the state document's own format, src/state/document.rs).
python3 - "$work" "$PWD/strategy.sample.json" <<'PY'
import json, os, sys
work, sample = sys.argv[1], sys.argv[2]
ports = [int(p) for p in open(os.path.join(work, "ports")).read().split()]
s = json.load(open(sample))
s["node"]["count"] = len(ports)
s["node"]["health"] = {"type": "tcp", "interval": "5s", "timeout": "2s",
                       "healthy_threshold": 1, "unhealthy_threshold": 3}
json.dump(s, open(os.path.join(work, "strategy.json"), "w"))
resources = [{
    "address": f"node.web[{i}]", "kind": "node",
    "placement": {"provider": "local", "location": "local-a", "size": "small", "image": "host"},
    "provider_id": f"web-{i}-bench", "attributes": {"name": f"web-{i}", "index": i, "ports": [port]},
    "observed": {"addr": "127.0.0.1"},
} for i, port in enumerate(ports)]
state = {"format_version": 1, "serial": 1, "lineage": "00000000-0000-4000-8000-000000000002",
         "strategy": "hello", "resources": resources}
os.makedirs(os.path.join(work, "state"))
json.dump(state, open(os.path.join(work, "state", "hello.state.json"), "w"))
PY

# One run of `oss monitor ARGS`: "wall_s cpu_s probes" (CPU: the child's user + system time).
measure() {
  python3 - "$oss" "$work" "$@" <<'PY'
import os, re, resource, subprocess, sys, time
oss, work, args = sys.argv[1], sys.argv[2], sys.argv[3:]
before = resource.getrusage(resource.RUSAGE_CHILDREN)
start = time.monotonic()
done = subprocess.run([oss, "monitor", *args], cwd=work, stdout=subprocess.DEVNULL,
                      stderr=subprocess.PIPE, text=True)
wall = time.monotonic() - start
after = resource.getrusage(resource.RUSAGE_CHILDREN)
cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
found = re.search(r"(\d+) node\(s\) watched: (\d+) up.*?(\d+) probe\(s\)", done.stderr)
if done.returncode != 0 or not found or found.group(1) != found.group(2):
    sys.exit(f"monitor: oss monitor {' '.join(args)} failed or saw nodes down:\n{done.stderr}")
print(f"{wall:.3f} {cpu:.3f} {found.group(3)}")
PY
}

for mode in once for; do
  : > "$work/$mode"
  for i in $(seq "$runs"); do
    echo "monitor: $mode, run $i of $runs" >&2
    rm -f "$work/state/health.jsonl"
    case $mode in
      once) measure --once >> "$work/$mode" ;;
      for) measure --for 20s >> "$work/$mode" ;;
    esac
  done
done

python3 - "$nodes" "$runs" "$work/once" "$work/for" <<'PY'
import statistics, sys
nodes, runs = int(sys.argv[1]), int(sys.argv[2])
def rows(path):
    return [tuple(float(x) for x in line.split()) for line in open(path)]
once, loop = rows(sys.argv[3]), rows(sys.argv[4])
def cell(values, scale=1000, digits=0):
    m = statistics.median(values)
    return f"{m * scale:.{digits}f} | {min(values) * scale:.{digits}f}–{max(values) * scale:.{digits}f}"
print("Command: `bash bench/run.sh monitor` (or `bash bench/monitor.sh`). "
      f"Date: {__import__('datetime').date.today()}. Release build, {runs} runs each.")
print()
print(f"`oss monitor` over a state of {nodes:,} nodes (written directly), each a TCP listener on")
print("127.0.0.1 (one Python asyncio process holds them all), `\"health\": {\"type\": \"tcp\",")
print("\"interval\": \"5s\", \"healthy_threshold\": 1}`, at most 256 probes in flight. *Wall* and *CPU*")
print("(user + system of the oss process) are per run; `--once` is one round plus start-up (strategy,")
print("state load); for `--for 20s` the per-round figures divide the run by its rounds (probes ÷ nodes),")
print("start-up included, so they are upper bounds.")
print()
print("| run | rounds | wall (ms): median | min–max | CPU (ms): median | min–max | CPU per round (ms): median | min–max | CPU per probe (µs) |")
print("|---|---:|---:|---|---:|---|---:|---|---:|")
for name, data in (("`--once`", once), ("`--for 20s`", loop)):
    rounds = [p / nodes for _, _, p in data]
    per_round = [c / r for (_, c, _), r in zip(data, rounds)]
    per_probe = statistics.median(c / p for _, c, p in data) * 1e6
    print(f"| {name} | {statistics.median(rounds):.0f} | {cell([w for w, _, _ in data])} | "
          f"{cell([c for _, c, _ in data])} | {cell(per_round)} | {per_probe:.0f} |")
wall_once = statistics.median(w for w, _, _ in once)
print()
print(f"At a 5 s interval one round of {nodes:,} probes costs "
      f"{statistics.median(c / (p / nodes) for _, c, p in loop) * 1000:.0f} ms of CPU, "
      f"{statistics.median(c / (p / nodes) for _, c, p in loop) / 5 * 100:.1f}% of one core; "
      f"a whole `--once` round takes {wall_once * 1000:.0f} ms of wall time.")
PY
