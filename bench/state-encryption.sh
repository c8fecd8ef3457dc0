#!/usr/bin/env bash
# What state encryption costs an apply: `oss apply` of 1,000 nodes on the `sim` provider with
# latency 0 (so state and journal writes are most of the work), in clear and with
# `state.encryption` (passphrase, PBKDF2 at the default 210,000 iterations, aes_gcm), run
# alternately in the same session so both see the same machine; and with the `shares` key
# provider (the vault's data key: no key derivation), which isolates the sealing itself; and
# the default passphrase with an `oss unlock` agent running, as a CI job or a working session
# runs (the agent keeps the derived key and the salt new states take: no derivation per run).
# Goal: ≤ 10% more.
# Prints a markdown section body; progress goes to stderr.
#   bash bench/state-encryption.sh     (RUNS=5 N=1000 P=100)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-5}
n=${N:-1000}
p=${P:-100}
command -v python3 >/dev/null || { echo "bench needs python3" >&2; exit 1; }
echo "state-encryption: building" >&2
cargo build --release --quiet
oss="$PWD/target/release/oss"
catalog="$PWD/examples/sim/cloud-b.json"
work=$(mktemp -d)
# Everything a run makes (its state and the simulated cloud's file) is under $work.
agent=""
trap '[ -n "$agent" ] && OSS_AGENT_DIR="$work/agents" "$oss" lock >/dev/null 2>&1; rm -rf "$work"' EXIT

strategy() { # dir iterations (0: in clear, -1: the vault's key)
  mkdir -p "$1"
  python3 - "$1/strategy.json" "$catalog" "$n" "$2" <<'PY'
import json, sys
path, catalog, count, iterations = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
state = {"backend": "local"}
if iterations == -1:
    state["encryption"] = {"method": "aes_gcm", "key_provider": {"shares": {}}}
elif iterations:
    state["encryption"] = {"method": "aes_gcm",
                           "key_provider": {"passphrase": {"passphrase": "env.OSS_BENCH_PASSPHRASE",
                                                           "iterations": iterations}}}
json.dump({"name": "bench", "default_pick": "cheapest", "state": state,
           "provider": {"options": [{"sim": {"name": "cloud-b", "catalog": catalog, "latency_ms": 0}}]},
           "node": {"name": "app", "count": count, "image": {"options": [{"os": "ubuntu"}]},
                    "hardware": {"options": [{"min_vcpus": 2}]},
                    "location": {"options": [{"country": "AU"}]}}}, open(path, "w"))
PY
}

export OSS_BENCH_PASSPHRASE="bench-passphrase-not-a-secret"
# One vault for every `shares` run: 2 shares, both needed, given with OSS_SHARES.
(cd "$work" && "$oss" secrets init --shares 2 --threshold 2 --out shares >/dev/null) \
  || { echo "state-encryption: oss secrets init failed" >&2; exit 1; }
export OSS_VAULT="$work/secrets.oss.json"
export OSS_SHARES="$(ls "$work"/shares/* | paste -sd: -)"
# The unlock agent for the `agent` runs (its own socket directory; `oss lock` ends it). Only
# those runs see it: the others name another agent directory, where none answers.
agents="$work/agents"
mkdir -m 700 "$agents"
OSS_AGENT_DIR="$agents" "$oss" unlock --ttl 30m >/dev/null \
  || { echo "state-encryption: oss unlock failed" >&2; exit 1; }
agent=1
export OSS_AGENT_DIR="$work/no-agent"
mkdir -m 700 "$OSS_AGENT_DIR"
apply() { # dir mode
  local env=()
  [ "$2" = agent ] && env=(OSS_AGENT_DIR="$agents")
  (cd "$1" && env "${env[@]}" "$oss" apply --auto-approve --parallelism "$p" >out.txt 2>err.txt) \
    || { echo "state-encryption: the apply failed:" >&2; tail -5 "$1/err.txt" >&2; exit 1; }
}
# One untimed apply leaves the agent the salt and key the timed ones are served.
strategy "$work/warm" 210000
apply "$work/warm" agent
rm -rf "$work/warm"
for r in $(seq "$runs"); do
  for mode in plain encrypted kdf-min shares agent; do
    echo "state-encryption: $mode, run $r of $runs" >&2
    dir="$work/$mode-$r"
    case $mode in plain) iterations=0 ;; encrypted | agent) iterations=210000 ;; shares) iterations=-1 ;; *) iterations=10000 ;; esac
    strategy "$dir" "$iterations"
    start=$EPOCHREALTIME
    apply "$dir" "$mode"
    end=$EPOCHREALTIME
    if [ "$mode" != plain ]; then
      grep -q '"encrypted_state": 1' "$dir/state/bench.state.json" \
        || { echo "state-encryption: the state is not encrypted" >&2; exit 1; }
    fi
    echo "$(awk "BEGIN{print $end - $start}")" >> "$work/$mode.txt"
    rm -rf "$dir"
  done
done

python3 - "$work" "$n" "$p" "$runs" <<'PY'
import datetime, statistics, sys
work, n, p, runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
modes = ("plain", "encrypted", "kdf-min", "shares", "agent")
times = {m: [float(x) for x in open(f"{work}/{m}.txt")] for m in modes}
med = {m: statistics.median(v) for m, v in times.items()}
over = med["encrypted"] / med["plain"] - 1
print(f"Command: `bash bench/run.sh state-encryption` (or `bash bench/state-encryption.sh`). "
      f"Date: {datetime.date.today().isoformat()}. Release build, {runs} runs of each, alternating, a fresh state each run.")
print()
print(f"`oss apply --auto-approve --parallelism {p}` of {n:,} nodes on one `sim` provider with "
      "`latency_ms: 0`, local state; in clear, and with `state.encryption` (passphrase, PBKDF2-HMAC-SHA512 "
      "at 210,000 iterations, `aes_gcm`): every version and every journal record sealed. Whole process, wall clock.")
print()
print("| case | median (s) | min | max |")
print("|---|---:|---:|---:|")
names = {"plain": "in clear", "encrypted": "sealed, PBKDF2 210,000 iterations (the default)",
         "kdf-min": "sealed, PBKDF2 10,000 iterations (the least accepted)",
         "shares": "sealed, the vault's data key (`shares`: no key derivation)",
         "agent": "sealed, PBKDF2 210,000 iterations, an `oss unlock` agent running"}
for m in modes:
    v = times[m]
    print(f"| {names[m]} | {med[m]:.3f} | {min(v):.3f} | {max(v):.3f} |")
print()
ok = "✓" if over <= 0.10 else "✗"
kdf = med["encrypted"] - med["kdf-min"]
print(f"Encryption adds {over * 100:.1f}% to the median (goal: at most 10% {ok}); with 10,000 "
      f"iterations {(med['kdf-min'] / med['plain'] - 1) * 100:.1f}%. The difference between the two, "
      f"{kdf * 1000:.0f} ms, is the passphrase's key derivation, paid once per process whatever the "
      "apply's size; the rest is sealing every version and journal record.")
sealing = med["shares"] / med["plain"] - 1
ok = "✓" if sealing <= 0.10 else "✗"
print()
print(f"Sealing itself (the `shares` row: the vault's data key, unlocked from two share files, no key "
      f"derivation) adds {sealing * 100:.1f}% (goal: at most 10% {ok}).")
agent = med["agent"] / med["plain"] - 1
ok = "✓" if agent <= 0.10 else "✗"
print()
print(f"With an `oss unlock` agent running (a CI job or a working session unlocks once), the default "
      f"passphrase adds {agent * 100:.1f}% (goal: at most 10% {ok}): the agent keeps the derived key, "
      "and the salt new states take while it runs, so no run derives a key; each asks the agent "
      "over its socket instead (docs/secrets.md, \"The unlock agent\").")
PY
