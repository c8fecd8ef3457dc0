#!/usr/bin/env bash
# Node groups benchmark: `oss plan --refresh=false` of 10 groups of 1,000 local nodes each,
# where every group reads the previous group's first node through references (env, tags) and
# so depends on it, beside the same 10,000 nodes as one group without references, in one run.
# Prints a markdown table.   bash bench/groups.sh   (RUNS=5 GROUP_COUNT=10 PER_GROUP=1000)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-5}
groups=${GROUP_COUNT:-10}
per=${PER_GROUP:-1000}
command -v python3 >/dev/null || { echo "bench needs python3" >&2; exit 1; }
cargo build --release --quiet
oss="$PWD/target/release/oss"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# chained|flat  groups  per-group  dir
strategy() {
  mkdir -p "$4"
  python3 - "$@" <<'PY'
import json, sys
shape, groups, per, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
sample = json.load(open("strategy.sample.json"))
node = sample.pop("node")
node.pop("name", None)
if shape == "flat":
    node["count"] = groups * per
    sample["nodes"] = {"g0": node}
else:
    sample["nodes"] = {}
    for i in range(groups):
        g = dict(node, count=per)
        if i > 0:
            up = "node.g%d" % (i - 1)
            g["env"] = {"UPSTREAM": "${%s[0].private_address}:${%s[0].port}" % (up, up)}
            g["tags"] = {"app": "hello", "upstream_count": "${%s.count}" % up}
        sample["nodes"]["g%d" % i] = g
    sample["outputs"] = {"first": "${node.g0[*].address}"}
json.dump(sample, open(out + "/strategy.json", "w"), indent=2)
PY
}

stats() { # prints "median min max" of numbers on stdin
  sort -g | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%s %s %s\n", m, a[1], a[NR]}'
}

total=$((groups * per))
echo "Command: \`bash bench/groups.sh\` (${runs} runs each; \`RUNS\`, \`GROUPS\`, \`PER_GROUP\` to change). Date: $(date -u +%F)."
echo
echo "Wall time and peak RSS (\`/usr/bin/time %M\`) of \`oss plan --refresh=false\` with no state, text"
echo "plan to /dev/null: process start, variables and schema check, compile (placement per group,"
echo "references checked and wired as DAG edges), diff in dependency order with every reference"
echo "rendered (unknown ones marked \"known after apply\"), rendering. *Chained*: ${groups} groups of"
echo "${per} local nodes; group i's env and tags read \`node.g(i-1)[0].private_address\`, its port and"
echo "\`node.g(i-1).count\`, so ${per} edges per group into the one before. *Flat*: the same ${total}"
echo "nodes as one group with no references, measured in the same run."
echo
echo "| strategy | nodes | median (s) | min | max | peak RSS (MB) | goal |"
echo "|---|---:|---:|---:|---:|---:|---|"
for shape in flat chained; do
  strategy "$shape" "$groups" "$per" "$work/$shape"
  times=(); mems=()
  for _ in $(seq "$runs"); do
    start=$EPOCHREALTIME
    mem=$( cd "$work/$shape" && /usr/bin/time -f "%M" "$oss" plan --refresh=false 2>&1 >/dev/null | tail -1 )
    end=$EPOCHREALTIME
    times+=("$(awk "BEGIN{printf \"%.3f\", $end - $start}")"); mems+=("$mem")
  done
  read -r tm tmin tmax < <(printf '%s\n' "${times[@]}" | stats)
  read -r mm _ _ < <(printf '%s\n' "${mems[@]}" | stats)
  goal=""
  label="1 group, no references"
  if [ "$shape" = chained ]; then
    label="$groups groups × $per, chained references"
    goal="≤ 0.3 s $(awk "BEGIN{print ($tm <= 0.3) ? \"✓\" : \"✗\"}"), ≤ 200 MB $(awk "BEGIN{print ($mm / 1024 <= 200) ? \"✓\" : \"✗\"}")"
  fi
  echo "| $label | $total | $tm | $tmin | $tmax | $(awk "BEGIN{printf \"%.1f\", $mm/1024}") | $goal |"
done
