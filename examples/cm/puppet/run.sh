#!/bin/sh
# Applies site.pp on every node oss knows, all at once: copies it over SSH and runs
# `puppet apply` there, with the node's directory and name as facts and Puppet's own state kept
# in the node's directory (as on separate machines). Hosts come from
# `oss inventory --format ssh-config`; OSS_STRATEGY and OSS_STATE_DIR pick which, SSH_OPTS adds
# ssh options. Exits non-zero when any node failed, naming it.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
oss ${OSS_STRATEGY:+-s "$OSS_STRATEGY"} ${OSS_STATE_DIR:+--state-dir "$OSS_STATE_DIR"} \
  inventory --format ssh-config >"$work/ssh_config"
ssh="ssh -F $work/ssh_config -o BatchMode=yes -o StrictHostKeyChecking=accept-new ${SSH_OPTS:-}"

apply() {
  $ssh "$1" 'mkdir -p "$OSS_NODE_DIR/puppet" && cat >"$OSS_NODE_DIR/puppet/site.pp"' <"$here/site.pp" &&
    $ssh "$1" 'p="$OSS_NODE_DIR/puppet"
      FACTER_oss_node_dir="$OSS_NODE_DIR" FACTER_oss_node_name="$OSS_NODE_NAME" \
      puppet apply --detailed-exitcodes --color=false --confdir "$p/etc" --vardir "$p/var" \
        --codedir "$p/code" --logdir "$p/log" --rundir "$p/run" "$p/site.pp"
      status=$?; [ "$status" = 0 ] || [ "$status" = 2 ]'
}

nodes=$(sed -n 's/^Host //p' "$work/ssh_config")
for node in $nodes; do
  apply "$node" >"$work/$node.log" 2>&1 && echo ok >"$work/$node.status" || echo failed >"$work/$node.status" &
done
wait
failed=""
for node in $nodes; do
  sed "s/^/$node: /" "$work/$node.log"
  [ "$(cat "$work/$node.status")" = ok ] || failed="$failed $node"
done
[ -z "$failed" ] || { echo "puppet apply failed on:$failed" >&2; exit 1; }
