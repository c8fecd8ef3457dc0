#!/usr/bin/env bash
# Apply time of 100 nodes at 100 ms per call with `--parallelism 20` on the REST drivers,
# against the lower bound: `oss apply` of a fresh fleet through the REST fake
# (tests/common/rest_fake, checked against each provider's OpenAPI document), every answer
# delayed by the latency, a fresh fake and state per run. Prints a markdown section body.
#   bash bench/rest-apply.sh      (BENCH_RUNS=3 BENCH_NODES=100 BENCH_LATENCY_MS=100 BENCH_PARALLELISM=20)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${BENCH_RUNS:-3}
nodes=${BENCH_NODES:-100}
latency=${BENCH_LATENCY_MS:-100}
parallelism=${BENCH_PARALLELISM:-20}
echo "building the test binaries (debug, as cargo test builds them)" >&2
lines=""
for t in digitalocean linode hetzner vultr; do
  out=$(BENCH_RUNS=$runs BENCH_NODES=$nodes BENCH_LATENCY_MS=$latency BENCH_PARALLELISM=$parallelism \
    timeout 1200 cargo test --quiet --test "$t" bench_apply_ -- --nocapture --test-threads 1)
  got=$(grep '^apply ' <<<"$out" | sed "s/^apply /$t /")
  [ -n "$got" ] || { echo "no figures from tests/$t.rs:" >&2; echo "$out" >&2; exit 1; }
  lines+="$got"$'\n'
done
python3 - "$runs" <<PY
import math, statistics, sys
runs = sys.argv[1]
rows = {}
for l in """$lines""".strip().splitlines():
    f = l.split()
    rows.setdefault(f[0], []).append(f)
print(f"Command: \`bash bench/rest-apply.sh\` ({runs} runs per provider; \`BENCH_RUNS\`, \`BENCH_NODES\`, \`BENCH_LATENCY_MS\`, \`BENCH_PARALLELISM\` to change). Date: $(date -u +%Y-%m-%d).")
print()
print("\`oss apply --auto-approve\` of a fresh fleet (one key, one firewall, N nodes in one region)")
print("through the REST fake, every answer sent after the latency, nodes running at their first")
print("poll. Wall time includes the plan and the state writes; debug build, fake in-process.")
print()
print("**Lower bound** = the critical path of calls in sequence × latency: 1 round for the catalog")
print("(regions, sizes/types, images listed at once, one page each), then the longer of the key's")
print("and the firewall's chains (DigitalOcean: one create each; Linode: the key list, then its")
print("create; Vultr: the key list and create, the group create, its rule list, then one create per")
print("rule), then the node calls in sequence (create, then one poll: 2; Hetzner: create, one poll")
print("of its action, one read of the server: 3) × ⌈nodes ÷ parallelism⌉ waves. *Node part* is that")
print("last term alone.")
print()
print("| provider | nodes | parallelism | latency (ms) | calls | calls/node | node part (s) | lower bound (s) | apply wall time (s) median | min | max | over the bound |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for provider, fs in rows.items():
    nodes, par, lat = int(fs[0][1]), int(fs[0][2]), int(fs[0][3])
    calls = statistics.median(int(f[4]) for f in fs)
    per_node = (int(fs[0][5]) + int(fs[0][6])) / nodes
    others = fs[0][8].split(",") if len(fs[0]) > 8 else []
    key = sum(1 for o in others if "ssh" in o.lower() or "key" in o.lower())
    fw = sum(1 for o in others if "firewall" in o.lower())
    waves = math.ceil(nodes / par)
    node_part = per_node * waves * lat / 1000
    bound = (1 + max(key, fw)) * lat / 1000 + node_part
    s = [int(f[7]) / 1000 for f in fs]
    med = statistics.median(s)
    print(f"| {provider} | {nodes} | {par} | {lat} | {calls:.0f} | {per_node:g} | {node_part:.1f} | {bound:.1f} | {med:.2f} | {min(s):.2f} | {max(s):.2f} | {med / bound:.2f}× |")
PY
