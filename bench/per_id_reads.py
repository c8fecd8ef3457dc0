"""The usual engine's refresh for figure 3: one DescribeInstances per resource, by id
(`InstanceId.1=ID`, as Terraform's aws_instance reads each instance), with boto3.

    python3 bench/per_id_reads.py --port PORT --ids-file FILE --threads 10

`--threads 1` reads one after another; `--threads 10` is Terraform's default parallelism.
Prints one JSON line: wall seconds, this process's CPU seconds, calls made, instances found.
"""

import argparse
import concurrent.futures
import json
import threading
import time

import boto3

local = threading.local()


def client(port, region):
    if not hasattr(local, "ec2"):
        # moto's documented fake keys; loopback only.
        local.ec2 = boto3.session.Session().client(
            "ec2",
            endpoint_url="http://127.0.0.1:%d" % port,
            region_name=region,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
    return local.ec2


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--ids-file", required=True)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    ids = [line.strip() for line in open(args.ids_file) if line.strip()]

    def read(instance_id):
        answer = client(args.port, args.region).describe_instances(InstanceIds=[instance_id])
        return sum(len(r["Instances"]) for r in answer["Reservations"])

    # Clients are made before the clock starts (boto3 loads its service model once per client).
    with concurrent.futures.ThreadPoolExecutor(args.threads) as pool:
        list(pool.map(lambda _: client(args.port, args.region), range(args.threads * 4)))
        cpu0, wall0 = time.process_time(), time.monotonic()
        found = sum(pool.map(read, ids))
        wall, cpu = time.monotonic() - wall0, time.process_time() - cpu0
    print(json.dumps({"seconds": round(wall, 3), "client_cpu": round(cpu, 3), "calls": len(ids), "found": found}))


if __name__ == "__main__":
    main()
