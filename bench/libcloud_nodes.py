"""The original tool's engine for figure 5: Apache Libcloud's EC2 driver creating nodes one
after another (create_node, then wait_until_running, node after node), against an EC2 endpoint
on loopback (moto behind bench/ec2_proxy.py).

    python3 bench/libcloud_nodes.py --port PORT --count 20 --region us-east-1 \
        --zone us-east-1a --size t3.micro --image-pattern 'al2023-ami-2023.*-x86_64'

Up front, once (as the original did before creating): the image (DescribeImages: owner
`amazon`, the name pattern, newest available), the size (libcloud's static list, no call) and
the location (DescribeAvailabilityZones). Then per node: create_node with a Name tag, and
wait_until_running polling every 0.1 s (not libcloud's default 5 s) for that node only. Prints
one JSON line: wall seconds of the whole run and of the create loop, and the node ids.
"""

import argparse
import json
import sys
import time

from libcloud.compute.drivers.ec2 import EC2NodeDriver

# Loopback only; moto accepts any key, these are its documented fake ones.
KEY, SECRET = "testing", "testing"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--count", type=int, default=20)
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--zone", default="us-east-1a")
    parser.add_argument("--size", default="t3.micro")
    parser.add_argument("--image-pattern", default="al2023-ami-2023.*-x86_64")
    parser.add_argument("--wait-period", type=float, default=0.1)
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args()

    started = time.monotonic()
    driver = EC2NodeDriver(
        KEY,
        SECRET,
        secure=False,
        host="127.0.0.1",
        port=args.port,
        region=args.region,
        signature_version="4",
    )
    images = driver.list_images(ex_owner="amazon", ex_filters={"name": args.image_pattern, "state": "available"})
    if not images:
        sys.exit("no image matches %s" % args.image_pattern)
    image = max(images, key=lambda i: (i.extra.get("creation_date") or "", i.name or ""))
    size = next(s for s in driver.list_sizes() if s.id == args.size)
    location = next(l for l in driver.list_locations() if l.availability_zone.name == args.zone)

    created = []
    loop_started = time.monotonic()
    for i in range(args.count):
        node = driver.create_node(name="web-%d" % i, size=size, image=image, location=location)
        driver.wait_until_running(
            [node],
            wait_period=args.wait_period,
            timeout=args.timeout,
            ssh_interface="private_ips",
            ex_list_nodes_kwargs={"ex_node_ids": [node.id]},
        )
        created.append(node.id)
    ended = time.monotonic()
    print(
        json.dumps(
            {
                "seconds": round(ended - started, 4),
                "create_loop_seconds": round(ended - loop_started, 4),
                "image": image.id,
                "nodes": created,
            }
        )
    )


if __name__ == "__main__":
    main()
