"""Fabric tasks over the nodes oss knows: `fab run` runs a command on every node over SSH, all
at once, and prints each node's answer as JSON.

    fab -r examples/cm/fabric run                          # the default command
    fab -r examples/cm/fabric run --command 'uptime'
    fab -r examples/cm/fabric run --group web --command 'cat "$OSS_NODE_DIR/site/index.html"'

The hosts come from `oss inventory --format fabric`; OSS_STRATEGY and OSS_STATE_DIR pick the
strategy and state as they do for `oss` itself.
"""

import json
import os
import subprocess
import sys

from fabric import Connection, ThreadingGroup, task
from fabric.exceptions import GroupException


def inventory(group=None):
    """The hosts `oss inventory --format fabric` lists; its report of unusable hosts goes to stderr."""
    command = ["oss"]
    if os.environ.get("OSS_STRATEGY"):
        command += ["-s", os.environ["OSS_STRATEGY"]]
    if os.environ.get("OSS_STATE_DIR"):
        command += ["--state-dir", os.environ["OSS_STATE_DIR"]]
    command += ["inventory", "--format", "fabric"]
    if group:
        command += ["--group", group]
    listed = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True)
    return json.loads(listed.stdout)


def connection(host):
    """A Fabric connection from one host entry: host, port, user and the key file."""
    return Connection(
        host=host["host"],
        port=host["port"],
        user=host.get("user"),
        connect_kwargs=host.get("connect_kwargs", {}),
    )


@task(default=True)
def run(c, command='echo "$OSS_NODE_NAME"', group=None):
    """Run COMMAND on every node (of GROUP), in parallel, and print {name: answer} as JSON."""
    hosts = inventory(group)
    if not hosts:
        print("{}")
        return
    connections = {host["name"]: connection(host) for host in hosts}
    try:
        results = ThreadingGroup.from_connections(list(connections.values())).run(
            command, hide=True, warn=True
        )
    except GroupException as partial:  # some could not be reached: report them, keep the rest
        results = partial.result
    answers, failed = {}, []
    for name, conn in connections.items():
        result = results.get(conn)
        if isinstance(result, Exception) or result is None:
            failed.append(f"{name}: {result}")
        elif result.exited != 0:
            failed.append(f"{name}: exit status {result.exited}: {result.stderr.strip()}")
        else:
            answers[name] = result.stdout.strip()
    print(json.dumps(answers, indent=2, sort_keys=True))
    for conn in connections.values():
        conn.close()
    if failed:
        sys.exit("failed on " + "; ".join(failed))
