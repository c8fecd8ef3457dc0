#!/usr/bin/env bash
# Runs benchmarks and writes their results into BENCHMARKS.md: each bench/NAME.sh prints a
# markdown section body, which replaces the text between `<!-- bench:NAME -->` and
# `<!-- /bench:NAME -->` (a new section at the end if there is none); the machine block at the
# top (`<!-- bench:machine -->`) is rewritten each time. Benches run one at a time.
#   bash bench/run.sh                  every bench below
#   bash bench/run.sh scale sim-apply  just those
set -uo pipefail
cd "$(dirname "$0")/.."
# peers-*: other tools measured in the same run (each builds its own virtualenv); CI (scripts/test.sh)
# runs no bench, so none of these.
all=(spine placement backends scale sim-apply refresh libcloud groups serve dns rest-refresh lb monitor rest-apply state-encryption sim-scale metrics aws-calls aws-pacing peers-ansible peers-terraform)
[ $# -gt 0 ] && names=("$@") || names=("${all[@]}")
command -v python3 >/dev/null || { echo "bench/run.sh needs python3" >&2; exit 1; }

# Replaces the body between the markers of $1 in BENCHMARKS.md with the file $2.
put() {
  python3 - BENCHMARKS.md "$1" "$2" <<'PY'
import re, sys
path, name, body_file = sys.argv[1:]
text = open(path).read()
body = open(body_file).read().strip("\n")
start, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
block = f"{start}\n{body}\n{end}"
pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
if pattern.search(text):
    text = pattern.sub(lambda _: block, text, count=1)
else:
    text = text.rstrip("\n") + f"\n\n## {name}\n\n{block}\n"
open(path, "w").write(text)
PY
}

machine=$(mktemp); out=$(mktemp)
trap 'rm -f "$machine" "$out"' EXIT
{
  echo "Machine: $(nproc) cores ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)),"
  echo "$(awk '/MemTotal/ {printf "%.0f GiB RAM", $2 / 1048576}' /proc/meminfo), Linux $(uname -r), $(rustc --version | cut -d' ' -f1-2)."
  echo "Release builds. Last run of \`bash bench/run.sh\`: $(date -u +%Y-%m-%d)."
} > "$machine"
put machine "$machine"

failed=()
for name in "${names[@]}"; do
  script="bench/$name.sh"
  if [ ! -f "$script" ]; then
    echo "bench/run.sh: skipping $name: $script does not exist (yet)" >&2
    continue
  fi
  echo "bench/run.sh: running $script" >&2
  if bash "$script" > "$out"; then
    put "$name" "$out"
    echo "bench/run.sh: $name written to BENCHMARKS.md" >&2
  else
    echo "bench/run.sh: $script failed; its section in BENCHMARKS.md is left as it was" >&2
    failed+=("$name")
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "bench/run.sh: failed: ${failed[*]}" >&2
  exit 1
fi
