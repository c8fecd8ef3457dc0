#!/usr/bin/env bash
# Issue 18, goal 4 on AWS: oss's adaptive client-side rate limit (src/net/pace.rs) against EC2
# throttling. bench/ec2_proxy.py sits in front of moto with a delay per call and EC2's own
# throttling answer (503 RequestLimitExceeded) beyond RATE calls per second; each run is a
# cold `oss apply` of N nodes then `oss destroy`, every step in flight, with oss pacing itself
# (the default) and with `OSS_PACE=off`, alternately. Counts the calls the proxy refused
# against those it forwarded, and times both commands. Prints a markdown section body to
# stdout; progress to stderr.
#   bash bench/aws-pacing.sh      (RUNS=3 NODES=100 RATE=5 DELAY_MS=50; OSS_BIN=another build)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/aws_common.sh
runs=${RUNS:-3}
n=${NODES:-100}
rate=${RATE:-5}
delay=${DELAY_MS:-50}
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
start_proxy "$delay" "$calls" "$rate"
log "moto on 127.0.0.1:$MOTO_PORT, throttling proxy ($rate calls/s, $delay ms) on 127.0.0.1:$PROXY_PORT"

# Runs oss in $1 with pacing $2 (on|off); prints its wall time in seconds.
run_oss() { # dir pace args...
  local dir=$1 pace=$2
  shift 2
  local start=$EPOCHREALTIME
  (cd "$dir" && OSS_PACE="$pace" BENCH_AWS_KEY=testing BENCH_AWS_SECRET=testing \
    "$oss" "$@" >"$work/oss.out" 2>"$work/oss.err") || {
    echo "error: oss $* failed (pacing $pace):" >&2
    tail -5 "$work/oss.err" >&2
    exit 1
  }
  awk "BEGIN{printf \"%.2f\", $EPOCHREALTIME - $start}"
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
refused() { awk '$4 == 503' "$calls" | wc -l; }
accepted() { awk '$4 != 503' "$calls" | wc -l; }

for r in $(seq "$runs"); do
  for pace in on off; do
    moto_fresh "$region"
    dir="$work/$pace-$r"
    aws_strategy "$dir" pacing "$n" t3.micro "${region}a" '"ports": [22]'
    : >"$calls"
    # The bucket starts full for each run: wait out what the last run left empty.
    sleep 1.5
    t_apply=$(run_oss "$dir" "$pace" apply --auto-approve --parallelism "$n")
    [ "$(live)" = "$n" ] || { echo "error: the apply did not leave $n instances" >&2; exit 1; }
    t_destroy=$(run_oss "$dir" "$pace" destroy --auto-approve --parallelism "$n")
    [ "$(live)" = 0 ] || { echo "error: the destroy left instances" >&2; exit 1; }
    echo "$(refused) $(accepted) $t_apply $t_destroy" >>"$work/$pace.txt"
    log "run $r/$runs, pacing $pace: $(refused) refused, $(accepted) forwarded, apply ${t_apply}s, destroy ${t_destroy}s"
  done
done

python3 - "$work" "$runs" "$n" "$rate" "$delay" "$(machine)" <<'PY'
import datetime, statistics, sys
work, runs, n, rate, delay, machine = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6]
rows = {p: [[float(x) for x in line.split()] for line in open(f"{work}/{p}.txt")] for p in ("on", "off")}

def span(values, fmt="{:.2f}"):
    return f"{fmt.format(statistics.median(values))} | {fmt.format(min(values))}–{fmt.format(max(values))}"

print(f"Command: `bash bench/aws-pacing.sh` (RUNS={runs}, NODES={n}, RATE={rate}, DELAY_MS={delay}). "
      f"Date: {datetime.date.today().isoformat()}.")
print(f"Machine: {machine}. moto 5.2.5's server on loopback, one region, behind `bench/ec2_proxy.py`")
print(f"adding {delay} ms to every EC2 call and answering EC2's throttling error (503")
print(f"`RequestLimitExceeded`) beyond {rate} calls per second (a token bucket, a burst of {rate}).")
print(f"Each run: a cold `oss apply --auto-approve --parallelism {n}` of {n} nodes in a new directory,")
print("then `oss destroy`, each checked by a boto3 look at moto; pacing on and off alternately.")
print()
print("| oss pacing | refused ÷ forwarded, median | min–max | refused | forwarded | apply (s) | min–max | destroy (s) | min–max | goal |")
print("|---|---:|---|---:|---:|---:|---|---:|---|---|")
for p, label in (("on", "on (the default)"), ("off", "off (`OSS_PACE=off`)")):
    r = rows[p]
    ratio = [a / b for a, b, _, _ in r]
    goal = ""
    if p == "on":
        goal = "≤ 0.05 " + ("✓" if statistics.median(ratio) <= 0.05 else "✗")
    print(f"| {label} | {span(ratio, '{:.3f}')} | {statistics.median(x[0] for x in r):.0f} "
          f"| {statistics.median(x[1] for x in r):.0f} | {span([x[2] for x in r])} | {span([x[3] for x in r])} | {goal} |")
PY
