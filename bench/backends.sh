#!/usr/bin/env bash
# State-backend benchmark: journal append latency and bytes per finished step, final write, for
# local files, PostgreSQL (a throwaway server started here) and S3 (a moto server started
# here, versioned bucket), then a real 1,000-node `sim` apply per backend. Prints markdown.
#   bash bench/backends.sh
set -euo pipefail
cd "$(dirname "$0")/.."
venv=$(bash scripts/moto-venv.sh)
work=$(mktemp -d)
moto_pid=""
cleanup() {
  [ -n "$moto_pid" ] && kill "$moto_pid" 2>/dev/null
  [ -n "${OSS_TEST_PG_DIR:-}" ] && bash scripts/postgres.sh stop "$OSS_TEST_PG_DIR"
  rm -rf "$work"
}
trap cleanup EXIT
eval "$(bash scripts/postgres.sh)"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$work/moto.log" 2>&1 &
moto_pid=$!
unset AWS_PROFILE
export AWS_ACCESS_KEY_ID=AKIDBENCH AWS_SECRET_ACCESS_KEY=bench-secret
for _ in $(seq 100); do (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
"$venv/bin/python" - "$port" <<'PY'
import boto3, sys
s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{sys.argv[1]}", region_name="us-east-1")
s3.create_bucket(Bucket="oss-bench")
s3.put_bucket_versioning(Bucket="oss-bench", VersioningConfiguration={"Status": "Enabled"})
PY
export OSS_BENCH_S3_URL="s3://oss-bench/bench?region=us-east-1&endpoint=http://127.0.0.1:$port"
cat <<EOF
Command: \`bash bench/backends.sh\` (starts a throwaway PostgreSQL 15 on loopback, fsync off as
in the tests, and a moto server with a versioned bucket for S3; runs \`cargo bench --bench backends\`, then real applies). Date: $(date -u +%F).

In-process, 1,000 node records shaped like a real apply's: each finished step is a journal
append that is durable when it returns (local: write + fdatasync of one line; PostgreSQL: one
INSERT, autocommit; S3: one PUT of a small object), then one final compare-and-swap write of the whole state.

EOF
cargo bench --quiet --bench backends 2>/dev/null
cargo build --release --quiet
oss="$PWD/target/release/oss"
echo
echo "End to end, \`oss apply\` of 1,000 nodes on a \`sim\` provider (no API latency), \`--parallelism 50\`:"
echo
echo "| backend | nodes | apply wall time (s) |"
echo "|---|---:|---:|"
for backend in local postgres s3; do
  mkdir -p "$work/$backend"
  python3 - "$work/$backend/strategy.json" "$PWD/examples/sim/cloud-b.json" "$backend" <<'PY'
import json, sys
d = {"name": "bench-" + sys.argv[3], "default_pick": "cheapest",
     "provider": {"options": [{"sim": {"name": "cloud-b", "catalog": sys.argv[2]}}]},
     "node": {"name": "app", "count": 1000, "image": {"options": [{"os": "ubuntu"}]},
              "hardware": {"options": [{"min_vcpus": 2}]}, "location": {"options": [{"country": "AU"}]}}}
if sys.argv[3] == "postgres":
    d["state"] = {"backend": "postgres", "url": "env.OSS_TEST_PG_URL"}
if sys.argv[3] == "s3":
    d["state"] = {"backend": "s3", "url": "env.OSS_BENCH_S3_URL"}
json.dump(d, open(sys.argv[1], "w"))
PY
  start=$EPOCHREALTIME
  (cd "$work/$backend" && "$oss" apply --auto-approve --parallelism 50 >/dev/null 2>&1)
  end=$EPOCHREALTIME
  echo "| $backend | 1000 | $(awk "BEGIN{printf \"%.2f\", $end - $start}") |"
  (cd "$work/$backend" && "$oss" destroy --auto-approve --parallelism 50 >/dev/null 2>&1)
done
