#!/usr/bin/env bash
# Peers: Ansible's amazon.aws.ec2_instance (exact_count) against oss's `aws` provider, both on
# moto behind bench/ec2_proxy.py adding 100 ms to every call, in the same run, at N = 20 and
# 100: cold create (oss: a new directory, planning included), the no-op re-run and destroy,
# wall time and the EC2 calls the proxy counts. Prints a markdown section body to stdout;
# progress to stderr. Builds its own virtualenv for Ansible (pinned, from PyPI).
#   bash bench/peers-ansible.sh      (RUNS=3 COUNTS="20 100" DELAY_MS=100; OSS_BIN=another build)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/aws_common.sh
runs=${RUNS:-3}
counts=${COUNTS:-"20 100"}
delay=${DELAY_MS:-100}
region=us-east-1 zone=us-east-1a size=t3.micro
ANSIBLE_PINS=("ansible==12.3.0" "boto3==1.44.8" "botocore==1.44.8")
ANSIBLE_VENV="${OSS_ANSIBLE_VENV:-$PWD/.venv-peers-ansible}"

bench_venv
pinned_venv "$ANSIBLE_VENV" ansible-playbook "${ANSIBLE_PINS[@]}"
if [ -z "${OSS_BIN:-}" ]; then
  log "building oss (release)"
  cargo build --release --quiet
fi
oss="${OSS_BIN:-$PWD/target/release/oss}"
work=$(mktemp -d)
trap 'stop_servers; rm -rf "$work"' EXIT
start_moto
calls="$work/calls.log"
start_proxy "$delay" "$calls"
log "moto on 127.0.0.1:$MOTO_PORT, proxy (+${delay} ms per call) on 127.0.0.1:$PROXY_PORT"

# The playbook: the newest Amazon Linux 2023 x86_64 AMI of owner amazon (as oss's
# `amazon-linux-2023` image), then COUNT t3.micro instances in the zone by exact_count, waiting
# until they run (as oss does); COUNT=0 terminates them (state: absent), waiting until they are
# gone.
cat >"$work/fleet.yml" <<YAML
- hosts: localhost
  connection: local
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
    aws: &aws
      endpoint_url: "http://127.0.0.1:$PROXY_PORT"
      region: $region
  tasks:
    - name: the image
      amazon.aws.ec2_ami_info:
        <<: *aws
        owners: [amazon]
        filters:
          name: "al2023-ami-2023.*-x86_64"
          state: available
      register: amis
    - name: the fleet
      amazon.aws.ec2_instance:
        <<: *aws
        name: web
        exact_count: "{{ count | int }}"
        image_id: "{{ (amis.images | sort(attribute='creation_date') | last).image_id }}"
        instance_type: $size
        availability_zone: $zone
        tags: {bench: ansible}
        wait: true
      when: count | int > 0
    # exact_count 0 is taken as "not given"; the module's own way to end instances is this.
    - name: no fleet
      amazon.aws.ec2_instance:
        <<: *aws
        state: absent
        filters:
          "tag:Name": web
          instance-state-name: [pending, running, stopping, stopped]
        wait: true
      when: count | int == 0
YAML
ansible_run() { # count
  (cd "$work" && ANSIBLE_HOME="$work/ansible-home" ANSIBLE_LOCALHOST_WARNING=False \
    ANSIBLE_INVENTORY_UNPARSED_WARNING=False AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing \
    "$ANSIBLE_VENV/bin/ansible-playbook" fleet.yml -e "count=$1" >"$work/ansible.out" 2>&1) || {
    cat "$work/ansible.out" >&2
    exit 1
  }
}
run_oss() { # dir args...
  local dir=$1
  shift
  (cd "$dir" && BENCH_AWS_KEY=testing BENCH_AWS_SECRET=testing "$oss" "$@" >/dev/null 2>"$work/oss.err") || {
    cat "$work/oss.err" >&2
    exit 1
  }
}
timed() { # prints the wall seconds of "$@"
  local start=$EPOCHREALTIME
  "$@"
  awk "BEGIN{printf \"%.3f\", $EPOCHREALTIME - $start}"
}
# Times "$@" into array $1 and the proxy's call count of it into array $2.
measure() { # times_array calls_array command...
  local -n times=$1 counted=$2
  shift 2
  : >"$calls"
  times+=("$(timed "$@")")
  counted+=("$(wc -l <"$calls")")
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
check_live() { # expected what
  local n
  n=$(live)
  [ "$n" = "$1" ] || { echo "error: $2 left $n instances, not $1" >&2; exit 1; }
}
ratio() { awk "BEGIN{printf \"%.1f\", $1 / $2}"; }
per() { awk "BEGIN{printf \"%.2f\", $1 / $2}"; }
median() { stats | cut -d' ' -f1; }
span() { read -r m lo hi < <(printf '%s\n' "$@" | stats); echo "$m ($lo–$hi)"; }

version_of() { "$ANSIBLE_VENV/bin/python" -c 'import importlib.metadata, sys; print(importlib.metadata.version(sys.argv[1]))' "$1"; }
amazon_aws=$("$ANSIBLE_VENV/bin/ansible-galaxy" collection list amazon.aws 2>/dev/null | awk '$1 == "amazon.aws" {print $2; exit}')
ansible_version="$(version_of ansible) (ansible-core $(version_of ansible-core), amazon.aws ${amazon_aws:-?})"

rows="" callrows=""
for n in $counts; do
  a_create=() a_create_calls=() a_noop=() a_noop_calls=() a_destroy=() a_destroy_calls=()
  o_create=() o_create_calls=() o_noop=() o_noop_calls=() o_destroy=() o_destroy_calls=()
  d_create=() d_create_calls=()
  for r in $(seq "$runs"); do
    moto_fresh "$region"
    measure a_create a_create_calls ansible_run "$n"
    check_live "$n" "Ansible's create"
    measure a_noop a_noop_calls ansible_run "$n"
    measure a_destroy a_destroy_calls ansible_run 0
    check_live 0 "Ansible's destroy"

    # oss with every node's step at once (`--parallelism N`): its launches, polls and
    # terminations are gathered into one call per placement or region.
    moto_fresh "$region"
    dir="$work/oss$n-$r"
    aws_strategy "$dir" bench "$n" "$size" "$zone"
    measure o_create o_create_calls run_oss "$dir" apply --auto-approve --parallelism "$n"
    check_live "$n" "oss's create"
    measure o_noop o_noop_calls run_oss "$dir" apply --auto-approve --parallelism "$n"
    measure o_destroy o_destroy_calls run_oss "$dir" destroy --auto-approve --parallelism "$n"
    check_live 0 "oss's destroy"

    # oss at its default parallelism (10), cold create only.
    moto_fresh "$region"
    dir="$work/default$n-$r"
    aws_strategy "$dir" bench "$n" "$size" "$zone"
    measure d_create d_create_calls run_oss "$dir" apply --auto-approve
    log "N=$n run $r/$runs: Ansible create ${a_create[-1]} s, no-op ${a_noop[-1]} s, destroy ${a_destroy[-1]} s;" \
      "oss create ${o_create[-1]} s, no-op ${o_noop[-1]} s, destroy ${o_destroy[-1]} s (default parallelism: create ${d_create[-1]} s)"
  done
  am=$(printf '%s\n' "${a_create[@]}" | median) om=$(printf '%s\n' "${o_create[@]}" | median)
  an=$(printf '%s\n' "${a_noop[@]}" | median) on=$(printf '%s\n' "${o_noop[@]}" | median)
  ad=$(printf '%s\n' "${a_destroy[@]}" | median) od=$(printf '%s\n' "${o_destroy[@]}" | median)
  dm=$(printf '%s\n' "${d_create[@]}" | median)
  goal=$([ "$n" -ge 100 ] && echo 20 || echo 10)
  rows+="| $n | cold create | $(span "${a_create[@]}") | $(span "${o_create[@]}") | $(ratio "$am" "$om")× | ≥ ${goal}× $(awk "BEGIN{print ($am / $om >= $goal) ? \"✓\" : \"✗\"}") |
| $n | cold create, oss at \`--parallelism 10\` | | $(span "${d_create[@]}") | $(ratio "$am" "$dm")× | |
| $n | no-op re-run | $(span "${a_noop[@]}") | $(span "${o_noop[@]}") | $(ratio "$an" "$on")× | |
| $n | destroy | $(span "${a_destroy[@]}") | $(span "${o_destroy[@]}") | $(ratio "$ad" "$od")× | |
"
  oc=$(printf '%s\n' "${o_create_calls[@]}" | median) odc=$(printf '%s\n' "${o_destroy_calls[@]}" | median)
  callrows+="| $n | create | $(printf '%s\n' "${a_create_calls[@]}" | median) | $oc | $(per "$oc" "$n") (≤ 1.2 $(awk "BEGIN{print ($oc / $n <= 1.2) ? \"✓\" : \"✗\"}")) | $(printf '%s\n' "${d_create_calls[@]}" | median) |
| $n | no-op | $(printf '%s\n' "${a_noop_calls[@]}" | median) | $(printf '%s\n' "${o_noop_calls[@]}" | median) | | |
| $n | destroy | $(printf '%s\n' "${a_destroy_calls[@]}" | median) | $odc | $(per "$odc" "$n") (≤ 0.1 $(awk "BEGIN{print ($odc / $n <= 0.1) ? \"✓\" : \"✗\"}")) | |
"
done

cat <<EOF
Command: \`bash bench/peers-ansible.sh\` (RUNS=$runs, COUNTS="$counts", DELAY_MS=$delay). Date: $(date -u +%Y-%m-%d).
Machine: $(machine). oss: release build. Ansible: ansible $ansible_version, Python $("$ANSIBLE_VENV/bin/python" -c 'import platform; print(platform.python_version())'), boto3 1.44.8.

Both tools against moto 5.2.5 behind \`bench/ec2_proxy.py\` (${delay} ms added to every call), in
the same run; moto is reset (and its region warmed) before each tool's round. Wall time of the
whole process, median (min–max) of $runs runs, in seconds.

- **Ansible**: \`ansible-playbook\` of one play on localhost: \`amazon.aws.ec2_ami_info\` (the newest
  \`al2023-ami-2023.*-x86_64\` of owner amazon, as oss's \`amazon-linux-2023\`), then
  \`amazon.aws.ec2_instance\` with \`name: web\`, \`exact_count: N\`, $size in $zone, \`wait: true\`.
  The no-op re-run is the same playbook again; destroy is \`state: absent\` over the
  instances named \`web\`, \`wait: true\` (the module takes \`exact_count: 0\` as not given).
- **oss**: \`oss apply --auto-approve --parallelism N\` in a new directory (cold: planning
  included, catalog read from the API, the region's key pair and security group made), the
  same again (no-op), \`oss destroy --auto-approve --parallelism N\`. With every step in flight,
  the launches share one RunInstances per placement, the polls one DescribeInstances and the
  terminations one TerminateInstances per region (docs/aws.md, "Batched launches"). The row
  "oss at \`--parallelism 10\`" is the default, where batches hold at most 10 nodes.
- Every create and destroy is checked by an independent boto3 look at moto (N instances, then
  none).

| N | step | Ansible | oss | speed-up | goal |
|---|---|---|---|---:|---|
${rows}
EC2 calls (median of the runs, counted by the proxy; oss's include the catalog, key pair and
security group, Ansible's the AMI lookup):

| N | step | Ansible | oss | oss per node | oss create at \`--parallelism 10\` |
|---|---|---:|---:|---|---:|
${callrows}
Caveats: moto answers at once where real AWS takes tens of seconds to start an instance and
to terminate one, so both tools' waits are far shorter here than they would be at AWS; the
100 ms per call stands for the distance to the API, and which tool makes fewer calls matters
more there. Ansible launches no key pair or security group (the instances get the default
group), oss makes both, so oss does more work in these figures. Ansible's times include
starting Python and loading the collection (about a second per playbook on this machine).
The per-node call goals are for fleets: oss's fixed calls (catalog, key pair, security group,
refresh's read) do not shrink with N, so at N = 20 destroy cannot reach 0.1 per node
(2 calls); at N = 100 it does.
EOF
