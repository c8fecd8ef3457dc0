#!/usr/bin/env bash
# Issue 18, goal 2 for AWS: the EC2 calls oss makes per node, counted by bench/ec2_proxy.py in
# front of moto: a cold create of N nodes, the refresh of a no-op plan (DescribeInstances,
# DescribeKeyPairs, DescribeSecurityGroups; the plan's catalog calls are counted apart) and a
# destroy, every step in flight (`--parallelism N`). Counts, not times: the build does not
# change them. Prints a markdown section body to stdout; progress to stderr.
#   bash bench/aws-calls.sh      (RUNS=3 NODES=100; OSS_BIN=another build)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/aws_common.sh
runs=${RUNS:-3}
n=${NODES:-100}
region=us-east-1

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
start_proxy 0 "$calls"
log "moto on 127.0.0.1:$MOTO_PORT, counting proxy on 127.0.0.1:$PROXY_PORT"

run_oss() { # dir args...
  local dir=$1
  shift
  (cd "$dir" && BENCH_AWS_KEY=testing BENCH_AWS_SECRET=testing "$oss" "$@" >"$work/oss.out" 2>"$work/oss.err") || {
    [ "$?" = 2 ] || { cat "$work/oss.err" >&2; exit 1; }
  }
}
live() { # instances moto holds that are not terminated
  "$BENCH_VENV/bin/python" - "$MOTO_PORT" "$region" <<'PY'
import sys, boto3
ec2 = boto3.client("ec2", endpoint_url=f"http://127.0.0.1:{sys.argv[1]}", region_name=sys.argv[2],
                   aws_access_key_id="testing", aws_secret_access_key="testing")
print(sum(1 for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]
          if i["State"]["Name"] != "terminated"))
PY
}
count() { awk -v re="$1" '$3 ~ re' "$calls" | wc -l; }
span() { read -r m lo hi < <(printf '%s\n' "$@" | stats); echo "$m | $lo–$hi"; }

create=() refresh=() plan_all=() destroy=() breakdown_refresh="" breakdown_destroy=""
for r in $(seq "$runs"); do
  moto_fresh "$region"
  dir="$work/run$r"
  aws_strategy "$dir" calls "$n" t3.micro "${region}a" '"ports": [22]'
  : >"$calls"
  run_oss "$dir" apply --auto-approve --parallelism "$n"
  create+=("$(wc -l <"$calls")")
  [ "$(live)" = "$n" ] || { echo "error: the apply did not leave $n instances" >&2; exit 1; }
  : >"$calls"
  run_oss "$dir" plan --detailed-exitcode
  grep -q "Refreshed aws: $((n + 1)) present, 0 gone" "$work/oss.err" || {
    echo "error: the refresh did not see every instance:" >&2
    cat "$work/oss.err" >&2
    exit 1
  }
  refresh+=("$(count '^(DescribeInstances|DescribeKeyPairs|DescribeSecurityGroups)$')")
  plan_all+=("$(wc -l <"$calls")")
  breakdown_refresh=$(calls_by_action "$calls")
  : >"$calls"
  run_oss "$dir" destroy --auto-approve --parallelism "$n"
  destroy+=("$(wc -l <"$calls")")
  breakdown_destroy=$(calls_by_action "$calls")
  [ "$(live)" = 0 ] || { echo "error: the destroy left instances" >&2; exit 1; }
  log "run $r/$runs: create ${create[-1]}, refresh ${refresh[-1]} (plan ${plan_all[-1]}), destroy ${destroy[-1]} calls"
done
per() { awk "BEGIN{printf \"%.2f\", $1 / $2}"; }
med() { printf '%s\n' "$@" | stats | cut -d' ' -f1; }
cm=$(med "${create[@]}") rm_=$(med "${refresh[@]}") dm=$(med "${destroy[@]}")
ok() { awk "BEGIN{print ($1 <= $2) ? \"✓\" : \"✗\"}"; }
cat <<MD
Command: \`bash bench/aws-calls.sh\` (RUNS=$runs, NODES=$n$([ -n "${OSS_BIN:-}" ] && echo ", OSS_BIN=$(basename "$(dirname "$oss")")/oss")). Date: $(date -u +%Y-%m-%d).
Machine: $(machine). moto 5.2.5's server on loopback, one region ($region), behind
\`bench/ec2_proxy.py\` counting every EC2 call (no added delay). Each run: a new directory,
\`oss apply --auto-approve --parallelism $n\` (cold: catalog, security group, launches), a no-op
\`oss plan\`, \`oss destroy --auto-approve --parallelism $n\`, each checked by a boto3 look at moto.

| step | calls, median | min–max | per node | goal |
|---|---:|---|---:|---|
| create ($n nodes) | $(span "${create[@]}") | $(per "$cm" "$n") | ≤ 1.2 per node $(ok "$(per "$cm" "$n")" 1.2) |
| refresh of the no-op plan (one region) | $(span "${refresh[@]}") | | ≤ 1 per region per 1,000 nodes $(ok "$rm_" 1) |
| the whole no-op plan (refresh and catalog) | $(span "${plan_all[@]}") | | |
| destroy ($n nodes) | $(span "${destroy[@]}") | $(per "$dm" "$n") | ≤ 0.1 per node $(ok "$(per "$dm" "$n")" 0.1) |

Calls by action in the last run: no-op plan: $breakdown_refresh; destroy: $breakdown_destroy.

Counts, not times, so moto answering at once does not flatter them, except that moto's
terminations end at once where AWS takes tens of seconds: at AWS the destroy's wait makes more
DescribeInstances polls (one per poll for the whole batch, pauses doubling up to the
driver's maximum). The refresh lists key pairs and security groups only where the instances do
not vouch for them (docs/aws.md); a steady fleet costs one DescribeInstances per 1,000 instances.
MD
