#!/usr/bin/env bash
# Placement benchmark: compile + plan of 10,000 nodes with `cheapest` over the full AWS price
# table (every region, zone and size in the shipped table, through a `sim` provider rehearsing
# AWS). Prints a markdown table: median of RUNS (default 5), min, max, peak RSS.
#   bash bench/placement.sh
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-5}
cargo build --release --quiet
oss="$PWD/target/release/oss"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

strategy() { # name count redundancy hardware-json
  mkdir -p "$work/$1"
  cat > "$work/$1/strategy.json" <<JSON
{
  "name": "bench",
  "default_pick": "cheapest",
  "redundancy": "$3",
  "provider": {"options": [{"sim": {"name": "aws", "catalog": "aws"}}]},
  "node": {
    "name": "web", "count": $2,
    "image": {"options": [{"name": "ubuntu-24.04"}]},
    "hardware": {"options": [$4]},
    "location": {"options": [{"continent": "north-america"}, {"continent": "south-america"}, {"continent": "europe"},
                             {"continent": "asia"}, {"continent": "oceania"}, {"continent": "africa"}]}
  }
}
JSON
}

stats() { sort -g | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%s %s %s\n", m, a[1], a[NR]}'; }

cat <<EOF
Command: \`bash bench/placement.sh\` (5 runs each). Date: $(date -u +%F).

Wall time of \`oss plan --refresh=false\` (process start, strategy check, catalog build from the
shipped AWS price table, matching, exact aggregate allocation, fall-back lists, diff and text
rendering to /dev/null) for a \`sim\` provider rehearsing AWS (\`"catalog": "aws"\`: 881 sizes in
104 zones of 34 regions, 37,789 priced offerings), locations on every continent.

EOF
echo "| case | nodes | catalog offerings | median (s) | min | max | peak RSS (MB) | goal |"
echo "|---|---:|---:|---:|---:|---:|---:|---|"
run_case() { # label dir nodes
  local times=() mem=0
  local offers
  offers=$(cd "$work/$2" && "$oss" catalog --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["offerings"]))')
  for _ in $(seq "$runs"); do
    start=$EPOCHREALTIME
    m=$( cd "$work/$2" && /usr/bin/time -f "%M" "$oss" plan --refresh=false 2>&1 >/dev/null | tail -1 )
    end=$EPOCHREALTIME
    times+=("$(awk "BEGIN{printf \"%.3f\", $end - $start}")")
    [ "$m" -gt "$mem" ] && mem=$m
  done
  read -r med min max < <(printf '%s\n' "${times[@]}" | stats)
  echo "| $1 | $3 | $offers | $med | $min | $max | $(awk "BEGIN{printf \"%.1f\", $mem/1024}") | ≤ 1 s $(awk "BEGIN{print ($med <= 1) ? \"✓\" : \"✗\"}") |"
}

strategy any 10000 "1:1" '{"min_vcpus": 1}'
run_case "cheapest, any size, 1:1" any 10000
strategy geo 5000 "2:1" '{"min_vcpus": 2, "min_memory_gib": 4}'
run_case "cheapest, ≥2 vCPU/4 GiB, 2:1 spread by zone" geo 10000
strategy spares 9500 "+500" '{"min_vcpus": 2}'
run_case "cheapest, ≥2 vCPU, +500 spares (≤ 500 per zone)" spares 10000
