#!/usr/bin/env bash
# Figure 5: 20 EC2 nodes created by the original tool's engine (Apache Libcloud's EC2 driver,
# node after node: create_node, then wait_until_running) and by `oss apply`, both against moto
# behind bench/ec2_proxy.py adding 100 ms to every call. Prints a markdown section body to
# stdout; progress to stderr.
#   bash bench/libcloud.sh          (RUNS=5 NODES=20 DELAY_MS=100; OSS_BIN=path to time another build)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/aws_common.sh
runs=${RUNS:-5}
nodes=${NODES:-20}
delay=${DELAY_MS:-100}
region=us-east-1 zone=us-east-1a size=t3.micro

bench_venv
if [ -z "${OSS_BIN:-}" ]; then
  log "building oss (release)"
  cargo build --release --quiet
fi
oss="${OSS_BIN:-$PWD/target/release/oss}"
work=$(mktemp -d)
trap 'stop_servers; rm -rf "$work"' EXIT
start_moto
calls="$work/calls.log"
start_proxy "$delay" "$calls"
log "moto on 127.0.0.1:$MOTO_PORT, proxy (+${delay} ms per call) on 127.0.0.1:$PROXY_PORT"

# The same nodes for oss: image amazon-linux-2023 (the newest al2023-ami-2023.*-x86_64 of
# owner amazon, as Libcloud is told below), t3.micro, one zone.
project() { # dir
  aws_strategy "$1" bench "$nodes" "$size" "$zone"
}
run_oss() { # dir args...
  local dir=$1
  shift
  (cd "$dir" && BENCH_AWS_KEY=testing BENCH_AWS_SECRET=testing "$oss" "$@" >/dev/null 2>"$work/oss.err") || {
    cat "$work/oss.err" >&2
    exit 1
  }
}
timed() { # prints the wall seconds of "$@"
  local start=$EPOCHREALTIME
  "$@"
  awk "BEGIN{printf \"%.3f\", $EPOCHREALTIME - $start}"
}
libcloud() {
  "$BENCH_VENV/bin/python" bench/libcloud_nodes.py --port "$PROXY_PORT" --count "$nodes" \
    --region "$region" --zone "$zone" --size "$size" >"$work/libcloud.json"
}

lc_times=() cold_times=() warm_times=() saved_times=() wide_times=() plan_times=()
for r in $(seq "$runs"); do
  moto_fresh "$region"
  : >"$calls"
  lc_times+=("$(timed libcloud)")
  lc_calls=$(calls_by_action "$calls"); lc_total=$(wc -l <"$calls")
  cp "$calls" "$work/libcloud.calls"

  # Cold: a new project directory, nothing kept from an earlier run.
  moto_fresh "$region"
  project "$work/cold$r"
  : >"$calls"
  cold_times+=("$(timed run_oss "$work/cold$r" apply --auto-approve)")
  cold_calls=$(calls_by_action "$calls"); cold_total=$(wc -l <"$calls")

  # Warm: `oss plan` first (what a user reviews before applying), then the timed apply.
  moto_fresh "$region"
  project "$work/warm$r"
  run_oss "$work/warm$r" plan
  : >"$calls"
  warm_times+=("$(timed run_oss "$work/warm$r" apply --auto-approve)")
  warm_calls=$(calls_by_action "$calls"); warm_total=$(wc -l <"$calls")
  cp "$calls" "$work/warm.calls"

  # Reviewed: `oss plan --out plan.bin` (the plan a pull request shows), then the timed
  # `oss apply plan.bin`, as CI applies a reviewed plan on merge; at the default parallelism
  # and with every node at once.
  for par in 10 "$nodes"; do
    moto_fresh "$region"
    project "$work/saved$par-$r"
    plan_time=$(timed run_oss "$work/saved$par-$r" plan --out plan.bin)
    : >"$calls"
    t=$(timed run_oss "$work/saved$par-$r" apply plan.bin --auto-approve --parallelism "$par")
    if [ "$par" = 10 ]; then
      saved_times+=("$t"); plan_times+=("$plan_time")
      saved_calls=$(calls_by_action "$calls"); saved_total=$(wc -l <"$calls")
      cp "$calls" "$work/saved.calls"
    else
      wide_times+=("$t")
      wide_calls=$(calls_by_action "$calls"); wide_total=$(wc -l <"$calls")
    fi
  done
  log "run $r/$runs: libcloud ${lc_times[-1]} s, oss apply cold ${cold_times[-1]} s, after a plan ${warm_times[-1]} s, reviewed plan ${saved_times[-1]} s (all at once ${wide_times[-1]} s)"
done
read -r lm lmin lmax < <(printf '%s\n' "${lc_times[@]}" | stats)
read -r cm cmin cmax < <(printf '%s\n' "${cold_times[@]}" | stats)
read -r wm wmin wmax < <(printf '%s\n' "${warm_times[@]}" | stats)
read -r sm smin smax < <(printf '%s\n' "${saved_times[@]}" | stats)
read -r xm xmin xmax < <(printf '%s\n' "${wide_times[@]}" | stats)
read -r pm pmin pmax < <(printf '%s\n' "${plan_times[@]}" | stats)
ratio() { awk "BEGIN{printf \"%.1f\", $1 / $2}"; }

# Where the time of the last warm apply went: per action, calls and the span from the first
# call's start to the last call's end (proxy clock).
phases() {
  awk '{ if (!($3 in first)) { first[$3] = $1; order[++n] = $3 } last[$3] = $2; count[$3]++; if (!t0 || $1 < t0) t0 = $1 }
       END { for (i = 1; i <= n; i++) { a = order[i]; printf "| %s | %d | %.2f – %.2f |\n", a, count[a], first[a] - t0, last[a] - t0 } }' "$1"
}

cat <<EOF
Command: \`bash bench/libcloud.sh\` (RUNS=$runs, NODES=$nodes, DELAY_MS=$delay). Date: $(date -u +%Y-%m-%d).
Machine: $(machine). oss: release build. Libcloud: apache-libcloud 3.9.1 (Python $("$BENCH_VENV/bin/python" -c 'import platform; print(platform.python_version())')).

$nodes nodes ($size, the newest Amazon Linux 2023 x86_64 AMI, $zone), created against moto 5.2.5
behind \`bench/ec2_proxy.py\`, which holds every call ${delay} ms before passing it on (a far-away
API; both tools keep their connections open, so the delay is paid once per call). Wall time is
the whole process, start to exit, median of $runs runs; moto is reset (and its region warmed)
before each run.

- **Libcloud**, as the original tool used it (\`bench/libcloud_nodes.py\`): \`EC2NodeDriver\`
  pointed at the proxy (\`host\`, \`port\`, \`secure=False\`), the image looked up once
  (\`list_images\`, owner \`amazon\`, name pattern, newest), the zone once (\`list_locations\`),
  the size from Libcloud's own table; then node after node \`create_node\` and
  \`wait_until_running([node], wait_period=0.1)\` (0.1 s instead of the default 5 s, so Libcloud is
  not charged for sleeping; each poll is its DescribeInstances plus DescribeAddresses).
- **oss**: \`oss apply --auto-approve\` of the same nodes (default \`--parallelism\` 10), which also
  reads the catalog (zones, instance types, offerings, images) and makes the fleet's security
  group. *Cold*: a new project directory. *After a plan*: \`oss plan\` ran first in that directory
  (as a user does before applying), so the region's zones, instance types and offerings are
  kept (\`offerings_ttl\`); images are asked again. *Reviewed plan*: \`oss plan --out plan.bin\`
  first (what a pull request shows; median $pm s, min $pmin, max $pmax, not counted), then
  \`oss apply plan.bin\`, as CI applies a reviewed plan on merge: no catalog to read, and the
  nodes' AMI looked up while the security group is made.

| tool | nodes | median (s) | min | max | EC2 calls | × faster than Libcloud | goal |
|---|---:|---:|---:|---:|---:|---:|---|
| Libcloud 3.9.1, node after node | $nodes | $lm | $lmin | $lmax | $lc_total | 1.0 | |
| oss apply, cold | $nodes | $cm | $cmin | $cmax | $cold_total | $(ratio "$lm" "$cm") | |
| oss apply, after \`oss plan\` | $nodes | $wm | $wmin | $wmax | $warm_total | $(ratio "$lm" "$wm") | |
| oss apply of the reviewed plan | $nodes | $sm | $smin | $smax | $saved_total | $(ratio "$lm" "$sm") | ≥ 10× $(awk "BEGIN{print ($lm / $sm >= 10) ? \"✓\" : \"✗\"}") |
| the same, \`--parallelism $nodes\` | $nodes | $xm | $xmin | $xmax | $wide_total | $(ratio "$lm" "$xm") | |

Calls per action: Libcloud \`$lc_calls\`; oss cold \`$cold_calls\`; oss after a plan \`$warm_calls\`;
reviewed plan \`$saved_calls\`; all at once \`$wide_calls\`.

Where the last oss apply of the reviewed plan spent its time, by action (seconds from its
first call):

| action | calls | from – to (s) |
|---|---:|---:|
$(phases "$work/saved.calls")
EOF
