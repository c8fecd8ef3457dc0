#!/usr/bin/env bash
# Refresh calls for 1,000 nodes on the REST drivers: `oss plan` of a 1,000-node fleet against
# the REST fake (tests/common/rest_fake, checked against each provider's OpenAPI document),
# counting the fake's calls per operation. The goal is the page count: DigitalOcean
# 1,000 / 200 = 5 calls of the droplet list, Linode and Vultr 1,000 / 500 = 2 calls of the
# instance list, Hetzner 1,000 / 50 = 20 calls of the server list, none per node. Prints a
# markdown section body to stdout.
#   bash bench/rest-refresh.sh      (BENCH_RUNS=5 BENCH_NODES=1000)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${BENCH_RUNS:-5}
nodes=${BENCH_NODES:-1000}
echo "building the test binaries (debug, as cargo test builds them)" >&2
lines=""
for provider in digitalocean linode hetzner vultr; do
  out=$(BENCH_RUNS=$runs BENCH_NODES=$nodes timeout 1200 cargo test --quiet --test "$provider" \
    bench_refresh_calls_for_1000_nodes -- --nocapture --test-threads 1)
  got=$(grep '^refresh ' <<<"$out" | sed "s/^refresh /$provider /")
  [ -n "$got" ] || { echo "no figures from tests/$provider.rs:" >&2; echo "$out" >&2; exit 1; }
  lines+="$got"$'\n'
done
python3 - "$runs" "$nodes" <<PY
import statistics, sys
runs, nodes = sys.argv[1], int(sys.argv[2])
rows = {}
for l in """$lines""".strip().splitlines():
    f = l.split()
    rows.setdefault(f[0], []).append(list(map(int, f[1:])))
page = {"digitalocean": 200, "linode": 500, "hetzner": 50, "vultr": 500}
listed = {"digitalocean": "\`GET /v2/droplets?tag_name=\` (the lineage tag)",
          "linode": "\`GET /v4/linode/instances\` (\`X-Filter\` on the lineage tag)",
          "hetzner": "\`GET /servers?label_selector=\` (the lineage label)",
          "vultr": "\`GET /v2/instances?tag=\` (the lineage tag, cursor pages)"}
print(f"Command: \`bash bench/rest-refresh.sh\` ({runs} runs per provider; \`BENCH_RUNS\`, \`BENCH_NODES\` to change). Date: $(date -u +%Y-%m-%d).")
print()
print("\`oss plan\` of a fleet of N nodes (created by \`oss apply\` through the REST fake,")
print("untimed), every call counted by the fake. The goal is the page count: one node-list call")
print("per page, no call per node. DigitalOcean lists " + listed["digitalocean"] + " in pages")
print("of 200, Linode " + listed["linode"] + " and Vultr " + listed["vultr"] + " in pages of 500,")
print("Hetzner " + listed["hetzner"] + " in pages of 50 (the API's largest). *Other calls* are the")
print("catalog (regions, sizes or types, images) and the key and firewall lists. Wall time is the")
print("debug build \`cargo test\` makes, fake in-process.")
print()
print("| provider | nodes | node-list calls | other calls | goal | plan wall time (s) median | min | max |")
print("|---|---:|---:|---:|---|---:|---:|---:|")
for provider, rs in rows.items():
    lists = [r[1] for r in rs]; others = [r[2] for r in rs]; ms = [r[3] / 1000 for r in rs]
    pages = -(-nodes // page[provider])
    ok = "✓" if max(lists) <= pages else "✗"
    print(f"| {provider} | {nodes} | {statistics.median(lists):.0f} | {statistics.median(others):.0f} | ≤ {pages} (pages of {page[provider]}) {ok} | {statistics.median(ms):.2f} | {min(ms):.2f} | {max(ms):.2f} |")
PY
