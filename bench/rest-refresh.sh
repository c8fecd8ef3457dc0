#!/usr/bin/env bash
# Refresh calls for 1,000 nodes on the REST drivers: `oss plan` of a 1,000-node Linode fleet
# against the REST fake (tests/common/rest_fake, checked against Linode's OpenAPI document),
# counting the fake's calls per operation. The goal is the page count: 1,000 / 500 = 2 calls
# of the instance list, none per instance. Prints a markdown section body to stdout.
#   bash bench/rest-refresh.sh      (BENCH_RUNS=5 BENCH_NODES=1000)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${BENCH_RUNS:-5}
nodes=${BENCH_NODES:-1000}
echo "building the test binary (debug, as cargo test builds it)" >&2
out=$(BENCH_RUNS=$runs BENCH_NODES=$nodes timeout 1200 cargo test --quiet --test linode \
  bench_refresh_calls_for_1000_instances -- --ignored --nocapture --test-threads 1)
lines=$(grep '^refresh ' <<<"$out")
[ -n "$lines" ] || { echo "no figures in the output:" >&2; echo "$out" >&2; exit 1; }
python3 - "$runs" "$nodes" <<PY
import statistics, sys
runs, nodes = sys.argv[1], int(sys.argv[2])
rows = [list(map(int, l.split()[1:])) for l in """$lines""".splitlines()]
lists = [r[1] for r in rows]; others = [r[2] for r in rows]; ms = [r[3] / 1000 for r in rows]
pages = -(-nodes // 500)
print(f"Command: \`bash bench/rest-refresh.sh\` ({runs} runs; \`BENCH_RUNS\`, \`BENCH_NODES\` to change). Date: $(date -u +%Y-%m-%d).")
print()
print("\`oss plan\` of a fleet of N Linode instances (created by \`oss apply\` through the REST fake,")
print("untimed), every call counted by the fake. The goal is the page count: one")
print("\`GET /v4/linode/instances\` (\`X-Filter\` on the lineage tag) per page of 500, no call per")
print("instance. *Other calls* are the catalog (regions, types, images) and the key and")
print("firewall lists. Wall time is the debug build \`cargo test\` makes, fake in-process.")
print()
print("| provider | nodes | instance-list calls | other calls | goal | plan wall time (s) median | min | max |")
print("|---|---:|---:|---:|---|---:|---:|---:|")
ok = "✓" if max(lists) <= pages else "✗"
print(f"| linode | {nodes} | {statistics.median(lists):.0f} | {statistics.median(others):.0f} | ≤ {pages} (pages of 500) {ok} | {statistics.median(ms):.2f} | {min(ms):.2f} | {max(ms):.2f} |")
PY
