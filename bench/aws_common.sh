# Shared by bench/refresh.sh and bench/libcloud.sh (sourced, not run): the bench virtualenv,
# a moto server and the proxy in front of it (bench/ec2_proxy.py), all on loopback, stopped by
# pid when the bench exits, plus small helpers. Progress goes to stderr.

BENCH_PINS=("moto[server]==5.2.5" "boto3==1.44.8" "apache-libcloud==3.9.1")
BENCH_VENV="${OSS_BENCH_VENV:-$PWD/.venv-bench}"
MOTO_PID="" PROXY_PID=""
source "$(dirname "${BASH_SOURCE[0]}")/venv.sh"

log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

# Writes DIR/strategy.json: COUNT nodes `web` of SIZE in ZONE, Amazon Linux 2023, on the aws
# provider behind the proxy (keys from env.BENCH_AWS_KEY/SECRET); EXTRA adds node settings
# (`"ports": [443]`).
aws_strategy() { # dir name count size zone [extra]
  mkdir -p "$1"
  cat >"$1/strategy.json" <<JSON
{
  "name": "$2",
  "provider": {"options": [{"aws": {
    "endpoint": "http://127.0.0.1:$PROXY_PORT", "regions": ["${5%[a-z]}"],
    "access_key_id": "env.BENCH_AWS_KEY", "secret_access_key": "env.BENCH_AWS_SECRET"}}]},
  "node": {
    "name": "web", "count": $3,
    "image": {"options": [{"name": "amazon-linux-2023"}]},
    "hardware": {"options": [{"name": "$4"}]},
    "location": {"options": [{"id": "$5"}]}${6:+,
    $6}
  }
}
JSON
}

# Creates (or refreshes, when the pins change) the bench virtualenv.
bench_venv() { pinned_venv "$BENCH_VENV" moto_server "${BENCH_PINS[@]}"; }

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits (at most 30 s) until 127.0.0.1:$1 accepts connections.
wait_port() {
  for _ in $(seq 300); do
    python3 -c "import socket; socket.create_connection(('127.0.0.1', $1), 1).close()" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "error: nothing listens on 127.0.0.1:$1 after 30 s" >&2
  return 1
}

# Starts moto_server on a free loopback port: sets MOTO_PID and MOTO_PORT.
start_moto() {
  MOTO_PORT=$(free_port)
  env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY \
    "$BENCH_VENV/bin/moto_server" -H 127.0.0.1 -p "$MOTO_PORT" >"$work/moto.log" 2>&1 &
  MOTO_PID=$!
  wait_port "$MOTO_PORT"
}

# Starts the proxy in front of moto with $1 ms of delay per call, logging calls to $2, and
# throttling EC2 calls with AWS's buckets $3 times smaller when given (see bench/ec2_proxy.py):
# sets PROXY_PID and PROXY_PORT.
start_proxy() {
  rm -f "$work/proxy.port"
  "$BENCH_VENV/bin/python" bench/ec2_proxy.py --upstream "$MOTO_PORT" --delay-ms "$1" \
    --log "$2" --port-file "$work/proxy.port" ${3:+--ec2-limits "$3"} 2>"$work/proxy.err" &
  PROXY_PID=$!
  for _ in $(seq 100); do [ -s "$work/proxy.port" ] && break; sleep 0.1; done
  PROXY_PORT=$(cat "$work/proxy.port")
  wait_port "$PROXY_PORT"
}

# Fills the proxy's buckets again (a fresh account).
proxy_reset() {
  python3 -c "import urllib.request as u; u.urlopen(u.Request('http://127.0.0.1:$PROXY_PORT/proxy-api/reset', method='POST')).read()"
}

# Stops what this bench started, by pid.
stop_servers() {
  for pid in $PROXY_PID $MOTO_PID; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  PROXY_PID="" MOTO_PID=""
}

# Forgets everything moto holds, then has it build region $1's backend (its first call in a
# region costs about a second), so no timed run pays for that.
moto_fresh() {
  "$BENCH_VENV/bin/python" - "$MOTO_PORT" "$1" <<'PY'
import sys, urllib.request
import boto3
port, region = sys.argv[1], sys.argv[2]
urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}/moto-api/reset", method="POST")).read()
boto3.client("ec2", endpoint_url=f"http://127.0.0.1:{port}", region_name=region,
             aws_access_key_id="testing", aws_secret_access_key="testing").describe_availability_zones()
PY
}

# CPU seconds (user + system) moto has used so far.
moto_cpu() {
  awk -v hz="$(getconf CLK_TCK)" '{printf "%.3f\n", ($14 + $15) / hz}' "/proc/$MOTO_PID/stat"
}

# "median min max" of the numbers on stdin.
stats() {
  sort -g | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%s %s %s\n", m, a[1], a[NR]}'
}

# Calls per action in proxy log $1, as "Action=N Action=N" sorted by action.
calls_by_action() {
  awk '{n[$3]++} END {for (a in n) printf "%s=%d\n", a, n[a]}' "$1" | sort | paste -sd' '
}

machine() {
  echo "$(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'))," \
    "$(awk '/MemTotal/ {printf "%.0f GiB RAM", $2/1048576}' /proc/meminfo), Linux $(uname -r)"
}
