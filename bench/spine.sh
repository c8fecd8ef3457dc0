#!/usr/bin/env bash
# Spine benchmarks: plan time and peak memory at 1,000 and 10,000 local nodes (no refresh), and
# state write amplification during a real apply of 300 local nodes. Prints a markdown table.
#   bash bench/spine.sh            (RUNS=5 NODES_APPLY=300 by default)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-5}
apply_nodes=${NODES_APPLY:-300}
command -v strace >/dev/null || { echo "bench needs strace (apt-get install strace)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "bench needs python3" >&2; exit 1; }
cargo build --release --quiet
oss="$PWD/target/release/oss"
work=$(mktemp -d)
trap 'cd /; [ -f "$work/a/strategy.json" ] && (cd "$work/a" && "$oss" destroy --auto-approve >/dev/null 2>&1); rm -rf "$work"' EXIT

strategy() { # count dir
  mkdir -p "$2"
  python3 - "$1" "$2/strategy.json" <<'PY'
import json, sys
d = json.load(open("strategy.sample.json"))
d["node"]["count"] = int(sys.argv[1])
json.dump(d, open(sys.argv[2], "w"), indent=2)
PY
}

stats() { # prints "median min max" of numbers on stdin
  sort -g | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%s %s %s\n", m, a[1], a[NR]}'
}

cat <<EOF
Command: \`bash bench/spine.sh\` (5 runs each; \`RUNS\`, \`NODES_APPLY\` to change). Date: $(date -u +%F).

- *Plan time*: wall time of \`oss plan --refresh=false\` for a strategy of N local nodes with no
  state (N creates), text plan written to /dev/null; includes process start, strategy parsing
  and schema check, compile to the petgraph DAG, diff and rendering.
- *Peak RSS*: maximum resident set of that process (\`/usr/bin/time %M\`).
- *Write ratio*: every byte \`oss apply\` writes to the state files (state, its temp file and
  backup, the journal), counted from \`strace -f -y\` write calls, divided by the final state
  file's size, for a real apply of 300 nodes (300 Python HTTP processes) at \`--parallelism 50\`.
  The journal (one fsync'd line per finished step) plus one final atomic write keeps this
  near 2 whatever N is; rewriting the state after each step would make it about N/2 (150 here).

EOF
echo "| figure | nodes | median | min | max | goal |"
echo "|---|---:|---:|---:|---:|---|"
for n in 1000 10000; do
  strategy "$n" "$work/p$n"
  times=(); mems=()
  for _ in $(seq "$runs"); do
    start=$EPOCHREALTIME
    mem=$( cd "$work/p$n" && /usr/bin/time -f "%M" "$oss" plan --refresh=false 2>&1 >/dev/null | tail -1 )
    end=$EPOCHREALTIME
    times+=("$(awk "BEGIN{printf \"%.3f\", $end - $start}")"); mems+=("$mem")
  done
  read -r tm tmin tmax < <(printf '%s\n' "${times[@]}" | stats)
  read -r mm mmin mmax < <(printf '%s\n' "${mems[@]}" | stats)
  goal_t=""; goal_m=""
  if [ "$n" = 10000 ]; then
    goal_t="≤ 0.5 s $(awk "BEGIN{print ($tm <= 0.5) ? \"✓\" : \"✗\"}")"
    goal_m="≤ 200 MB $(awk "BEGIN{print ($mm / 1024 <= 200) ? \"✓\" : \"✗\"}")"
  fi
  echo "| plan time (s), --refresh=false | $n | $tm | $tmin | $tmax | $goal_t |"
  echo "| plan peak RSS (MB) | $n | $(awk "BEGIN{printf \"%.1f\", $mm/1024}") | $(awk "BEGIN{printf \"%.1f\", $mmin/1024}") | $(awk "BEGIN{printf \"%.1f\", $mmax/1024}") | $goal_m |"
done

# Write amplification: every byte oss writes to the state files (state, backup, journal, temp
# files) during a full apply, divided by the final state file's size. strace sees each write.
strategy "$apply_nodes" "$work/a"
cd "$work/a"
strace -f -b execve -qq -e trace=write,pwrite64,writev -e signal=none -y -o "$work/trace" \
  "$oss" apply --auto-approve --parallelism 50 >/dev/null 2>&1
final=$(stat -c %s state/hello.state.json)
state_bytes=$(python3 - "$work/trace" <<'PY'
import re, sys
total = 0
for line in open(sys.argv[1], errors="replace"):
    m = re.search(r'^\d+\s+(?:write|pwrite64|writev)\((\d+)<([^>]*)>.*= (\d+)$', line.strip())
    if m and re.search(r'/state/(\.)?hello\.(state\.json|journal)', m.group(2)):
        total += int(m.group(3))
print(total)
PY
)
node_meta=$(python3 - "$work/trace" <<'PY'
import re, sys
total = 0
for line in open(sys.argv[1], errors="replace"):
    m = re.search(r'^\d+\s+(?:write|pwrite64|writev)\((\d+)<([^>]*)>.*= (\d+)$', line.strip())
    if m and "/state/local/" in m.group(2):
        total += int(m.group(3))
print(total)
PY
)
"$oss" destroy --auto-approve >/dev/null 2>&1
ratio=$(awk "BEGIN{printf \"%.2f\", $state_bytes/$final}")
echo "| state bytes written ÷ final state size, apply | $apply_nodes | $ratio ($state_bytes B ÷ $final B) | | | ≤ 3 $(awk "BEGIN{print ($ratio <= 3) ? \"✓\" : \"✗\"}") |"
echo "| local node metadata written (node.json, B/node) | $apply_nodes | $((node_meta / apply_nodes)) | | | |"
