#!/usr/bin/env bash
# Issue 18, goal 4 on AWS: oss's adaptive client-side rate limit (src/net/pace.rs) against EC2
# throttling. bench/ec2_proxy.py sits in front of moto with a delay per call and EC2's own
# throttling (503 RequestLimitExceeded) from AWS's documented token buckets, per action family,
# each SCALE times smaller (see the proxy for the figures and their source); each run is a
# cold `oss apply` of N nodes then `oss destroy`, every step in flight, with oss pacing itself
# (the default) and with `OSS_PACE=off`, alternately. Counts the calls the proxy refused
# against those it forwarded, and times both commands. With BEFORE_BIN (another build of oss,
# such as the commit before a change), that build runs too, pacing on and off, in the same
# rotation. Prints a markdown section body to stdout; progress to stderr.
#   bash bench/aws-pacing.sh      (RUNS=3 NODES=100 SCALE=5 DELAY_MS=50; OSS_BIN=another build;
#                                  BEFORE_BIN=a build to compare with, BEFORE=its name;
#                                  TIMEOUT_S=90, the most one oss command may take)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/aws_common.sh
runs=${RUNS:-3}
n=${NODES:-100}
scale=${SCALE:-5}
delay=${DELAY_MS:-50}
limit=${TIMEOUT_S:-90} # the longest one oss command may take (a run of the build compared with counts as failed)
region=us-east-1

bench_venv
if [ -z "${OSS_BIN:-}" ]; then
  log "building oss (release)"
  cargo build --release --quiet
fi
oss="${OSS_BIN:-$PWD/target/release/oss}"
variants=(on off)
if [ -n "${BEFORE_BIN:-}" ]; then
  [ -x "$BEFORE_BIN" ] || { echo "error: BEFORE_BIN=$BEFORE_BIN is not an executable" >&2; exit 1; }
  variants+=(before-on before-off)
fi
work=$(mktemp -d)
trap 'stop_servers; rm -rf "$work"' EXIT
start_moto
calls="$work/calls.log"
start_proxy "$delay" "$calls" "$scale"
log "moto on 127.0.0.1:$MOTO_PORT, throttling proxy (AWS's buckets / $scale, $delay ms) on 127.0.0.1:$PROXY_PORT"

# Runs variant $2 (on|off|before-on|before-off) of oss in $1; prints its wall time in seconds.
run_oss() { # dir variant args...
  local dir=$1 variant=$2 bin=$oss
  shift 2
  [ "${variant#before-}" = "$variant" ] || bin=$BEFORE_BIN
  local start=$EPOCHREALTIME
  (cd "$dir" && OSS_PACE="${variant#before-}" BENCH_AWS_KEY=testing BENCH_AWS_SECRET=testing \
    timeout "$limit" "$bin" "$@" >"$work/oss.out" 2>"$work/oss.err") || {
    echo "error: oss $* failed ($variant):" >&2
    tail -5 "$work/oss.err" >&2
    # The build compared with may fail (that is a figure); this one may not.
    [ "$bin" = "$BEFORE_BIN" ] || exit 1
    touch "$work/failed"
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

load_before=$(cut -d' ' -f1 /proc/loadavg)
for r in $(seq "$runs"); do
  for pace in "${variants[@]}"; do
    moto_fresh "$region"
    dir="$work/$pace-$r"
    aws_strategy "$dir" pacing "$n" t3.micro "${region}a" '"ports": [22]'
    : >"$calls"
    # Every bucket starts full for each run's apply (the destroy gets what the apply left).
    proxy_reset
    rm -f "$work/failed"
    t_apply=$(run_oss "$dir" "$pace" apply --auto-approve --parallelism "$n")
    if [ -e "$work/failed" ]; then
      # A failed apply of the build compared with: its calls count, no destroy (moto is reset).
      echo "$(refused) $(accepted) $t_apply nan" >>"$work/$pace.txt"
    else
      [ "$(live)" = "$n" ] || { echo "error: the apply did not leave $n instances" >&2; exit 1; }
      t_destroy=$(run_oss "$dir" "$pace" destroy --auto-approve --parallelism "$n")
      [ "$(live)" = 0 ] || { echo "error: the destroy left instances" >&2; exit 1; }
      echo "$(refused) $(accepted) $t_apply $t_destroy" >>"$work/$pace.txt"
    fi
    cp "$calls" "$work/calls-$pace-$r.log"
    [ -z "${KEEP_LOGS:-}" ] || cp "$calls" "$KEEP_LOGS/calls-$pace-$r.log"
    log "run $r/$runs, $pace: $(refused) refused, $(accepted) forwarded, apply ${t_apply}s$([ -e "$work/failed" ] && echo ' (failed)' || echo ", destroy ${t_destroy}s")"
  done
done

load="$load_before → $(cut -d' ' -f1 /proc/loadavg)"
python3 - "$work" "$runs" "$n" "$scale" "$delay" "$(machine)" "${BEFORE:-the build in BEFORE_BIN}" "$load" "$limit" "${variants[@]}" <<'PY'
import collections, datetime, glob, math, statistics, sys
work, runs, n, scale, delay, machine, before, load = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6], sys.argv[7], sys.argv[8]
limit = sys.argv[9]
variants = sys.argv[10:]
rows = {p: [[float(x) for x in line.split()] for line in open(f"{work}/{p}.txt")] for p in variants}

def span(values, fmt="{:.2f}"):
    return f"{fmt.format(statistics.median(values))} | {fmt.format(min(values))}–{fmt.format(max(values))}"

def by_action(pace):
    """Calls per action over every run of `pace`: {action: [answered, refused]}."""
    seen = collections.defaultdict(lambda: [0, 0])
    for path in sorted(glob.glob(f"{work}/calls-{pace}-*.log")):
        for line in open(path):
            _, _, action, status = line.split()
            seen[action][1 if status == "503" else 0] += 1
    return seen

print(f"Command: `bash bench/run.sh aws-pacing` (`bash bench/aws-pacing.sh`: RUNS={runs}, NODES={n}, "
      f"SCALE={scale}, DELAY_MS={delay}). Date: {datetime.date.today().isoformat()}.")
print(f"Machine: {machine}. moto 5.2.5's server on loopback, one region, behind `bench/ec2_proxy.py`,")
print(f"which adds {delay} ms to every EC2 call and throttles as EC2 documents it")
print("(<https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-throttling.html>): a token bucket")
print("per region and action, sized by the action's family, and resource buckets counted in")
print(f"instances, every capacity and refill rate divided by {scale}. So here: non-mutating")
s = float(scale)
def b(cap, refill):
    return f"{cap / s:g} token{'' if cap / s == 1 else 's'}, {refill / s:g}/s"
print(f"`Describe*` {b(100, 20)}; `DescribeInstances` without filter or pagination {b(50, 10)};")
print(f"mutating {b(50, 5)}; `AuthorizeSecurityGroupIngress` (resource-intensive) {b(50, 5)};")
print(f"`RunInstances` {b(5, 2)} plus {b(1000, 2)} in instances; `TerminateInstances` {b(100, 5)}")
print(f"plus {b(1000, 20)} in instances. A refused call gets EC2's answer (HTTP 503")
print("`RequestLimitExceeded`) and never reaches moto. Each run: a cold")
print(f"`oss apply --auto-approve --parallelism {n}` of {n} nodes in a new directory, every bucket")
print("full at its start, then `oss destroy` (on what the apply left of the buckets), each checked")
print("by a boto3 look at moto; the variants in turn, one run of each per round.")
print()
print("| oss pacing | refused ÷ forwarded, median | min–max | refused | forwarded | apply (s) | min–max | destroy (s) | min–max | goal |")
print("|---|---:|---|---:|---:|---:|---|---:|---|---|")
wall = {p: [x[2] + x[3] for x in rows[p]] for p in ("on", "off")}
labels = {"on": "on (the default)", "off": "off (`OSS_PACE=off`)",
          "before-on": f"on, {before}", "before-off": f"off, {before}"}
for p in variants:
    label = labels[p]
    r = rows[p]
    ratio = [a / b for a, b, _, _ in r]
    goal = ""
    if p == "on":
        met = statistics.median(ratio) <= 0.05 and statistics.median(wall["on"]) <= max(wall["off"])
        goal = "≤ 0.05, apply + destroy not above pacing off's slowest run " + ("✓" if met else "✗")
    failed = sum(1 for x in r if math.isnan(x[3]))
    if failed:
        label += f" — {failed} of {len(r)} applies failed (out of attempts, or past the {limit} s limit)"
        goal = "apply times include the failed ones; destroy times only the others"
    destroys = [x[3] for x in r if not math.isnan(x[3])]
    destroy = span(destroys) if destroys else "– | –"
    print(f"| {label} | {span(ratio, '{:.3f}')} | {statistics.median(x[0] for x in r):.0f} "
          f"| {statistics.median(x[1] for x in r):.0f} | {span([x[2] for x in r])} | {destroy} | {goal} |")
print()
for p in variants:
    seen = by_action(p)
    listed = ", ".join(f"{a} {ok}" + (f" (+{bad} refused)" if bad else "")
                       for a, (ok, bad) in sorted(seen.items()))
    print(f"Calls over the {runs} runs, {labels[p]}, by action: {listed}.")
    print()
print(f"Caveats: moto answers at once (no launch takes time, every instance is running at the first")
print(f"poll), so the calls are the cold plan's, one launch and one termination; the buckets are")
print(f"AWS's divided by {scale} (the largest divisor that leaves `RunInstances` a whole call) so that a")
print(f"bench of {n} nodes meets the limits an account meets at {scale}× the load, and the ratios")
print("between families are AWS's (an account can have its limits raised on request). The wall")
print("times are a few seconds and the machine was shared with other builds (load average")
print(f"{load} over the bench), so their spread is noise: the goal's time test is that pacing on's")
print("median is not above pacing off's slowest run. The figures in each row are per run (median,")
print("min–max); a variant's refusals can come from one unlucky run, as the min–max shows.")
PY
