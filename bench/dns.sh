#!/usr/bin/env bash
# DNS for a large fleet: `oss apply` of N `sim` nodes with a `dns` block on a real BIND 9
# (`named` on 127.0.0.1, a free high port, a TSIG key from tsig-keygen), per parallelism P:
#  - RFC 2136 UPDATE messages the server received (its statistics channel's opcode counter),
#  - the apply's wall time,
#  - the time from the apply's start until `dig` (a TSIG-signed AXFR, polled every 100 ms)
#    sees every record: N per-node A records and the N-address round-robin name.
# Route53 change calls are counted by tests/dns_route53.rs (a count, not a timing).
# Prints a markdown section body; progress goes to stderr.
#   bash bench/dns.sh     (RUNS=5 N=1000 PS="100 1000")
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-5}
n=${N:-1000}
ps=${PS:-100 1000}
for tool in /usr/sbin/named /usr/sbin/tsig-keygen /usr/bin/dig python3 curl; do
  command -v "$tool" >/dev/null || {
    echo "bench/dns.sh needs $tool (apt-get install bind9 bind9-utils bind9-dnsutils curl python3)" >&2
    exit 1
  }
done
echo "dns: building" >&2
cargo build --release --quiet
oss="$PWD/target/release/oss"
catalog="$PWD/examples/sim/cloud-b.json"
work=$(mktemp -d)
named_pid=""
cleanup() {
  [ -n "$named_pid" ] && kill "$named_pid" 2>/dev/null && wait "$named_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# One named for all runs; each run uses a zone of its own.
key_conf=$(tsig-keygen -a hmac-sha256 oss-key)
secret=$(printf '%s\n' "$key_conf" | sed -n 's/.*secret "\(.*\)";/\1/p')
printf '%s\n' "$key_conf" > "$work/key.conf"
port=$(free_port)
stats=$(free_port)
zones=()
for p in $ps; do
  for r in $(seq "$runs"); do zones+=("p$p-r$r.bench.test"); done
done
{
  cat <<EOF
options {
  directory "$work";
  pid-file "$work/named.pid";
  session-keyfile "$work/session.key";
  managed-keys-directory "$work";
  listen-on port $port { 127.0.0.1; };
  listen-on-v6 { none; };
  recursion no;
  dnssec-validation no;
  notify no;
  # BIND 9.18 allows 100 records per name and type by default; the round-robin name holds N.
  max-records-per-type 0;
};
controls { };
statistics-channels { inet 127.0.0.1 port $stats allow { 127.0.0.1; }; };
include "$work/key.conf";
EOF
  for zone in "${zones[@]}"; do
    printf '$TTL 300\n@ IN SOA ns.%s. admin.%s. 1 3600 600 86400 60\n@ IN NS ns.%s.\nns IN A 127.0.0.1\n' \
      "$zone" "$zone" "$zone" > "$work/$zone.db"
    echo "zone \"$zone\" { type primary; file \"$work/$zone.db\"; update-policy { grant oss-key zonesub ANY; }; allow-transfer { key oss-key; }; };"
  done
} > "$work/named.conf"
/usr/sbin/named -g -4 -c "$work/named.conf" >"$work/named.log" 2>&1 &
named_pid=$!
for _ in $(seq 200); do
  dig @127.0.0.1 -p "$port" +short +tcp "${zones[0]}" SOA 2>/dev/null | grep -q . && break
  sleep 0.1
done
dig @127.0.0.1 -p "$port" +short +tcp "${zones[0]}" SOA | grep -q . \
  || { echo "dns: named did not start:" >&2; tail -20 "$work/named.log" >&2; exit 1; }

updates() {
  curl -s "http://127.0.0.1:$stats/xml/v3/server" | python3 -c '
import re, sys
text = sys.stdin.read()
block = text.split("<counters type=\"opcode\">", 1)[1].split("</counters>", 1)[0]
m = re.search(r"<counter name=\"UPDATE\">(\d+)</counter>", block)
print(m.group(1) if m else 0)'
}

# Seconds from $1 (an EPOCHREALTIME) until an AXFR of zone $2 holds every record, or "-".
watch_zone() { # start zone
  local deadline=$(( $(date +%s) + 600 ))
  while [ "$(date +%s)" -lt "$deadline" ]; do
    if dig @127.0.0.1 -p "$port" +tcp +noall +answer -y "hmac-sha256:oss-key:$secret" "$2" AXFR 2>/dev/null \
      | python3 -c '
import sys
n, zone = int(sys.argv[1]), sys.argv[2]
own = set(); rr = 0
for line in sys.stdin:
    f = line.split()
    if len(f) < 5 or f[3] != "A":
        continue
    if f[0] == f"app.{zone}.":
        rr += 1
    elif f[0].startswith("app-"):
        own.add(f[0])
sys.exit(0 if len(own) == n and rr == n else 1)' "$n" "$2"; then
      awk "BEGIN{print $EPOCHREALTIME - $1}"
      return
    fi
    sleep 0.1
  done
  echo "-"
}

for p in $ps; do
  for r in $(seq "$runs"); do
    zone="p$p-r$r.bench.test"
    echo "dns: $n nodes, --parallelism $p, run $r of $runs" >&2
    dir="$work/run-$p-$r"
    mkdir -p "$dir"
    python3 - "$dir/strategy.json" "$catalog" "$n" "$zone" "127.0.0.1:$port" <<'PY'
import json, sys
path, catalog, n, zone, server = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
json.dump({"name": "bench", "default_pick": "cheapest",
           "provider": {"options": [{"sim": {"name": "cloud-b", "catalog": catalog, "latency_ms": 0}}]},
           "nodes": {"app": {"count": n, "image": {"options": [{"os": "ubuntu"}]},
                             "hardware": {"options": [{"min_vcpus": 2}]},
                             "location": {"options": [{"country": "AU"}]}}},
           "dns": {"zone": zone, "provider": {"rfc2136": {
               "server": server, "key_name": "oss-key", "key_secret": "env.OSS_BENCH_TSIG"}}}},
          open(path, "w"))
PY
    before=$(updates)
    start=$EPOCHREALTIME
    watch_zone "$start" "$zone" > "$dir/seen.txt" &
    watcher=$!
    (cd "$dir" && OSS_BENCH_TSIG="$secret" "$oss" apply --auto-approve --parallelism "$p" >out.txt 2>err.txt) \
      || { echo "dns: the apply failed:" >&2; tail -5 "$dir/err.txt" >&2; kill "$watcher"; exit 1; }
    end=$EPOCHREALTIME
    wait "$watcher"
    after=$(updates)
    echo "$p $((after - before)) $(awk "BEGIN{print $end - $start}") $(cat "$dir/seen.txt")" >> "$work/results.txt"
    rm -rf "$dir"
  done
done

python3 - "$work/results.txt" "$n" "$runs" <<'PY'
import datetime, statistics, sys
path, n, runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rows = {}
for line in open(path):
    p, updates, apply, seen = line.split()
    rows.setdefault(int(p), []).append((int(updates), float(apply), None if seen == "-" else float(seen)))

def fmt(values, digits=2):
    values = [v for v in values if v is not None]
    if not values:
        return "- | - | -"
    return " | ".join(f"{v:.{digits}f}" for v in (statistics.median(values), min(values), max(values)))

print(f"Command: `bash bench/run.sh dns` (or `bash bench/dns.sh`). Date: {datetime.date.today().isoformat()}. "
      f"Release build, {runs} runs each, a fresh state and zone each run.")
print()
print(f"`oss apply --auto-approve --parallelism P` of {n:,} `sim` nodes (`latency_ms: 0`) with a `dns` block")
print(f"on a real BIND 9 `named` (127.0.0.1, TSIG key `hmac-sha256`): {n + 1:,} record resources, each")
print(f"beside its ownership TXT: {n:,} per-node A records and the round-robin name with {n:,} addresses.")
print("*UPDATE messages*: what the server counted (its statistics")
print("channel's UPDATE opcode), the pre-plan no-op UPDATE included. *Seen by dig*: from the apply's")
print("start until a TSIG-signed `dig AXFR` (polled every 100 ms) shows every record.")
print()
print("| P | UPDATE messages median | min | max | apply (s) median | min | max | seen by dig (s) median | min | max |")
print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for p in sorted(rows):
    r = rows[p]
    print(f"| {p} | {fmt([x[0] for x in r], 0)} | {fmt([x[1] for x in r])} | {fmt([x[2] for x in r])} |")
print()
print("Records are sent by the steps that run at once: the edits of the record steps in flight")
print("while an UPDATE is on the wire go out together in the next one (at most 48 KiB of record")
print("data). With a small P few record steps run at once, so UPDATEs are small; a P near the")
print("fleet's size lets them fill up.")
print()
print("Route53 change calls for 1,000 names are a count, asserted by `cargo test --test dns_route53`")
print("(`a_thousand_records_take_few_change_calls`, moto behind the fault proxy): 2")
print("`ChangeResourceRecordSets` calls, the goal (4 with the ownership TXT of before, 7 while every")
print("set went as an UPSERT). The arithmetic, from Route53's per-request quotas (1,000")
print("ResourceRecord elements and 32,000 characters of Value elements, an UPSERT counting twice):")
print("each new name is a CREATE of its A record (about 11 characters) and of its ownership TXT")
print("(`\"heritage=oss,l=DIGEST12,a=dns.web[999]\"`, at most 44 characters quoted for these")
print("addresses), so 2 records and about 55 characters; 1,000 names are 2,000 records (2 requests at")
print("least, 500 names each) and about 54,000 characters (2 requests at least, 32,000 each): 2. The")
print("TXT of before named the lineage in full (about 87 characters quoted): about 98,500 characters,")
print("4 requests.")
PY
