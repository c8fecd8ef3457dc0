#!/usr/bin/env bash
# Load-balancer membership update time: a fleet of `sim` nodes behind the `haproxy` provider
# (a real HAProxy on 127.0.0.1, a free high port) scaled from 10 to 100 members, per run:
#  - the `lb.app` update step (config written and checked, reload, the new worker serving it),
#  - the scaling apply's wall time,
#  - the time from the apply's start until HAProxy's stats socket lists all 100 servers.
# The sim nodes' addresses are not routable, so this measures membership, not traffic.
# Prints a markdown section body; progress goes to stderr.
#   bash bench/lb.sh     (RUNS=3 FROM=10 TO=100)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-3}
from=${FROM:-10}
to=${TO:-100}
for tool in /usr/sbin/haproxy python3; do
  command -v "$tool" >/dev/null || {
    echo "bench/lb.sh needs $tool (apt-get install haproxy python3)" >&2
    exit 1
  }
done
echo "lb: building" >&2
cargo build --release --quiet
oss="$PWD/target/release/oss"
catalog="$PWD/examples/sim/cloud-b.json"
work=$(mktemp -d)
cleanup() {
  for dir in "$work"/run-*; do
    [ -d "$dir" ] && (cd "$dir" && "$oss" destroy --auto-approve >/dev/null 2>&1 || true)
  done
  rm -rf "$work"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

strategy() { # path count port
  python3 - "$1" "$catalog" "$2" "$3" <<'PY'
import json, sys
path, catalog, n, port = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
json.dump({"name": "bench", "default_pick": "cheapest",
           "provider": {"options": [{"sim": {"name": "cloud-b", "catalog": catalog, "latency_ms": 0}}]},
           "nodes": {"app": {"count": n, "ports": [8080], "image": {"options": [{"os": "ubuntu"}]},
                             "hardware": {"options": [{"min_vcpus": 2}]},
                             "location": {"options": [{"country": "AU"}]}}},
           "lb": {"app": {"members": "app", "listeners": [{"port": port, "target_port": 8080}],
                          "provider": {"haproxy": {}}}}},
          open(path, "w"))
PY
}

# Seconds from $1 (an EPOCHREALTIME) until the stats socket $2 lists $3 servers, or "-".
watch_servers() { # start socket count
  python3 - "$1" "$2" "$3" <<'PY'
import socket, sys, time
start, path, want = float(sys.argv[1]), sys.argv[2], int(sys.argv[3])
deadline = time.time() + 120
while time.time() < deadline:
    try:
        s = socket.socket(socket.AF_UNIX)
        s.connect(path)
        s.sendall(b"show stat\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
        s.close()
        servers = [l for l in data.decode().splitlines()
                   if l and not l.startswith("#") and l.split(",")[1] not in ("FRONTEND", "BACKEND")]
        if len(servers) == want:
            print(f"{time.time() - start:.3f}")
            sys.exit(0)
    except OSError:
        pass
    time.sleep(0.01)
print("-")
PY
}

for r in $(seq "$runs"); do
  echo "lb: $from -> $to members, run $r of $runs" >&2
  dir="$work/run-$r"
  mkdir -p "$dir"
  port=$(free_port)
  strategy "$dir/strategy.json" "$from" "$port"
  (cd "$dir" && "$oss" apply --auto-approve >/dev/null 2>"$dir/err.txt") \
    || { echo "lb: the first apply failed:" >&2; tail -5 "$dir/err.txt" >&2; exit 1; }
  socket=$(ls "$dir"/state/haproxy/*/stats.sock)
  strategy "$dir/strategy.json" "$to" "$port"
  start=$EPOCHREALTIME
  watch_servers "$start" "$socket" "$to" > "$dir/seen.txt" &
  watcher=$!
  (cd "$dir" && "$oss" apply --auto-approve >"$dir/out.txt" 2>"$dir/err.txt") \
    || { echo "lb: the scaling apply failed:" >&2; tail -5 "$dir/err.txt" >&2; kill "$watcher"; exit 1; }
  end=$EPOCHREALTIME
  wait "$watcher"
  step=$(sed -n 's/.*lb\.app: updated \[\([0-9.]*\)s\].*/\1/p' "$dir/out.txt" "$dir/err.txt" | head -1)
  echo "${step:--} $(awk "BEGIN{print $end - $start}") $(cat "$dir/seen.txt")" >> "$work/results.txt"
  (cd "$dir" && "$oss" destroy --auto-approve >/dev/null 2>&1)
  rm -rf "$dir"
done

python3 - "$work/results.txt" "$from" "$to" "$runs" <<'PY'
import datetime, statistics, sys
path, start, end, runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
rows = [line.split() for line in open(path)]

def fmt(i):
    values = [float(r[i]) for r in rows if r[i] != "-"]
    if not values:
        return "- | - | -"
    return " | ".join(f"{v:.2f}" for v in (statistics.median(values), min(values), max(values)))

print(f"Command: `bash bench/run.sh lb` (or `bash bench/lb.sh`). Date: {datetime.date.today().isoformat()}. "
      f"Release build, {runs} runs, a fresh state and HAProxy each run.")
print()
print(f"A group of `sim` nodes (`latency_ms: 0`) behind the `haproxy` provider (a real HAProxy 2.6 in")
print(f"master-worker mode on 127.0.0.1), scaled from {start} to {end} members by one `oss apply`. *lb step*:")
print("the balancer's update (configuration written and checked with `haproxy -c`, SIGUSR2 reload,")
print("until the new worker's stats socket reports the new configuration and the listener answers),")
print("as the apply's progress line reports it (0.1 s resolution).")
print(f"*Seen*: from the apply's start until HAProxy's stats socket lists all {end} servers.")
print()
print("| | median (s) | min | max |")
print("|---|---:|---:|---:|")
print(f"| lb step | {fmt(0)} |")
print(f"| scaling apply | {fmt(1)} |")
print(f"| seen by the stats socket | {fmt(2)} |")
PY
