"""A loopback HTTP proxy for the AWS benches: forwards every request to moto unchanged (so
signatures stay valid), optionally after a fixed delay (the latency of a far-away API), and logs
one line per call: start and end (seconds since the proxy started), EC2 Action, HTTP status.

    python3 bench/ec2_proxy.py --upstream PORT --delay-ms 100 --log FILE --port-file FILE

It listens on 127.0.0.1 only, on a free port written to --port-file. Client connections are
kept alive (reqwest and requests both reuse them); each forwarded call opens its own upstream
connection, so calls on different client connections overlap exactly as they would at AWS.
Stop it by its pid (SIGTERM).

With --ec2-limits F it also throttles EC2 calls as EC2 does, with every bucket F times smaller
than AWS documents (https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-throttling.html,
"Request token bucket sizes and refill rates" and "Resource token bucket sizes and refill
rates"): one request bucket per region and action, sized by the action's category (non-mutating
Describe*/List*/Search*/Get* 100 tokens refilled at 20 a second; DescribeInstances and the six
others of the "unfiltered and unpaginated" family 50 and 10 when a call names no Filter and no
MaxResults/NextToken; mutating 50 and 5; the nine resource-intensive ones, such as
AuthorizeSecurityGroupIngress, 50 and 5; the uncategorized ones their own, such as RunInstances
5 and 2, TerminateInstances 100 and 5, CreateTags 100 and 10), plus the resource buckets
counted in instances (RunInstances and StartInstances 1000 and 2, TerminateInstances and
StopInstances 1000 and 20). Capacities and refill rates are all divided by F, so the ratios
between families and between burst and refill stay AWS's. Buckets start full and refill
continuously; a call that finds its request bucket below one token, or its resource bucket
below its instance count, is not forwarded and gets EC2's throttling answer (HTTP 503,
`RequestLimitExceeded`), logged with status 503 like any other call, and takes no token.
Calls of other services (ELBv2) pass unthrottled. `POST /proxy-api/reset` fills every bucket
again (a fresh account for the next run of a bench).

One repair: moto 5.2.5 names the EC2 XML namespace without the trailing slash real EC2 sends
(`http://ec2.amazonaws.com/doc/2016-11-15`); Libcloud looks elements up by the exact namespace
and would find nothing, so answers get AWS's spelling back. oss ignores namespaces.
"""

import argparse
import asyncio
import os
import signal
import time
import urllib.parse

READ_TIMEOUT = 60.0
MOTO_NAMESPACE = b'xmlns="http://ec2.amazonaws.com/doc/2016-11-15"'
AWS_NAMESPACE = b'xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"'
MAX_HEAD = 64 * 1024
MAX_BODY = 64 * 1024 * 1024


async def read_message(reader, is_response):
    """One HTTP/1.1 message: (head bytes, body bytes), or None at a clean end of stream."""
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), READ_TIMEOUT)
    except asyncio.IncompleteReadError as e:
        if e.partial:
            raise
        return None
    if len(head) > MAX_HEAD:
        raise ValueError("head too long")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    if "content-length" in headers:
        length = int(headers["content-length"])
        if length > MAX_BODY:
            raise ValueError("body too long")
        body = await asyncio.wait_for(reader.readexactly(length), READ_TIMEOUT)
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        body = b""
        while True:
            size_line = await asyncio.wait_for(reader.readuntil(b"\r\n"), READ_TIMEOUT)
            size = int(size_line.split(b";")[0].strip(), 16)
            chunk = await asyncio.wait_for(reader.readexactly(size + 2), READ_TIMEOUT)
            body += chunk[:-2]
            if size == 0:
                break
            if len(body) > MAX_BODY:
                raise ValueError("body too long")
        # Re-frame with a length: simpler for the client than relaying the chunks.
        kept = [l for l in lines[:-2] if not l.lower().startswith("transfer-encoding")]
        kept.append("Content-Length: %d" % len(body))
        head = ("\r\n".join(kept) + "\r\n\r\n").encode("latin-1")
    elif is_response:
        body = await asyncio.wait_for(reader.read(MAX_BODY), READ_TIMEOUT)
    else:
        body = b""
    return head, body


def with_aws_namespace(head, body):
    if MOTO_NAMESPACE not in body[:512]:
        return head, body
    body = body.replace(MOTO_NAMESPACE, AWS_NAMESPACE, 1)
    lines = head.decode("latin-1").split("\r\n")
    lines = ["Content-Length: %d" % len(body) if l.lower().startswith("content-length:") else l for l in lines]
    return "\r\n".join(lines).encode("latin-1"), body


def action_of(head, body):
    first = head.split(b"\r\n", 1)[0].decode("latin-1")
    target = first.split(" ")[1] if " " in first else ""
    for text in (body.decode("latin-1", "replace"), urllib.parse.urlsplit(target).query):
        values = urllib.parse.parse_qs(text).get("Action")
        if values:
            return values[0]
    return "-"


THROTTLED = (b'<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error>'
             b'<Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message>'
             b'</Error></Errors><RequestID>00000000-0000-0000-0000-000000000000</RequestID></Response>')


# AWS's documented buckets (capacity, refill per second), before scaling; see the docstring.
NON_MUTATING = (100, 20)
UNFILTERED = (50, 10)
MUTATING = (50, 5)
RESOURCE_INTENSIVE = (50, 5)
UNFILTERED_ACTIONS = {
    "DescribeInstances", "DescribeInstanceStatus", "DescribeNetworkInterfaces",
    "DescribeSecurityGroups", "DescribeSnapshots", "DescribeSpotInstanceRequests",
    "DescribeVolumes",
}
RESOURCE_INTENSIVE_ACTIONS = {
    "AcceptVpcPeeringConnection", "AuthorizeSecurityGroupIngress", "CancelSpotInstanceRequests",
    "CreateKeyPair", "CreateVpcPeeringConnection", "DeleteVpcPeeringConnection",
    "RejectVpcPeeringConnection", "RevokeSecurityGroupIngress", "RequestSpotInstances",
}
# Uncategorized actions with their own request buckets (those near what a provisioner calls).
UNCATEGORIZED = {
    "AssociateIamInstanceProfile": (100, 5), "CopyImage": (100, 1), "CreateDefaultSubnet": (1, 1),
    "CreateDefaultVpc": (1, 1), "CreateLaunchTemplateVersion": (100, 5),
    "CreateNatGateway": (10, 1), "CreateNetworkInterface": (100, 5), "CreateSnapshot": (100, 5),
    "CreateTags": (100, 10), "CreateVolume": (100, 5), "CreateVpcEndpoint": (4, 0.3),
    "DeleteNatGateway": (10, 1), "DeleteNetworkInterface": (100, 5), "DeleteSnapshot": (100, 5),
    "DeleteTags": (100, 10), "DeleteVolume": (100, 5), "DeleteVpcEndpoints": (4, 0.3),
    "DeregisterImage": (100, 5), "DescribeSecurityGroupReferences": (20, 5),
    "DescribeStaleSecurityGroups": (20, 5), "DisassociateIamInstanceProfile": (100, 5),
    "ModifyImageAttribute": (100, 5), "ModifyInstanceMetadataOptions": (100, 5),
    "ModifyLaunchTemplate": (100, 5), "ModifyNetworkInterfaceAttribute": (100, 5),
    "RunInstances": (5, 2), "StartInstances": (5, 2), "TerminateInstances": (100, 5),
}
# Resource buckets, in instances: (capacity, refill, the parameter that counts them).
RESOURCE = {
    "RunInstances": (1000, 2, "MaxCount"), "StartInstances": (1000, 2, "InstanceId."),
    "TerminateInstances": (1000, 20, "InstanceId."), "StopInstances": (1000, 20, "InstanceId."),
}


def request_bucket(action, params):
    """The request bucket an EC2 call draws on: (name, (capacity, refill)) before scaling."""
    if action in UNCATEGORIZED:
        return action, UNCATEGORIZED[action]
    if action in RESOURCE_INTENSIVE_ACTIONS:
        return action, RESOURCE_INTENSIVE
    if action.startswith(("Describe", "List", "Search", "Get")):
        narrowed = any(k.startswith("Filter.") or k in ("MaxResults", "NextToken") for k in params)
        if action in UNFILTERED_ACTIONS and not narrowed:
            return action + " (unfiltered, unpaginated)", UNFILTERED
        return action, NON_MUTATING
    return action, MUTATING


def resource_cost(action, params):
    """(bucket name, (capacity, refill), instances) for a call with a resource bucket, or None."""
    if action not in RESOURCE:
        return None
    capacity, refill, counted = RESOURCE[action]
    if counted.endswith("."):
        n = sum(1 for k in params if k.startswith(counted))
    else:
        n = int(params.get(counted, ["1"])[0] or 1)
    return action + " (instances)", (capacity, refill), max(n, 1)


class Bucket:
    """A token bucket: `capacity` tokens at most, `refill` more a second, starting full."""

    def __init__(self, capacity, refill, now):
        self.capacity = capacity
        self.refill = refill
        self.tokens = capacity
        self.at = now

    def level(self, now):
        self.tokens = min(self.capacity, self.tokens + (now - self.at) * self.refill)
        self.at = now
        return self.tokens


class Limits:
    """EC2's request and resource buckets per region, every one `scale` times smaller."""

    def __init__(self, scale):
        self.scale = scale
        self.buckets = {}

    def reset(self):
        self.buckets = {}

    def bucket(self, region, name, size, now):
        key = (region, name)
        if key not in self.buckets:
            capacity, refill = size
            self.buckets[key] = Bucket(capacity / self.scale, refill / self.scale, now)
        return self.buckets[key]

    def take(self, region, action, params):
        """Whether the call may go; takes its tokens if so, none if not."""
        now = time.monotonic()
        name, size = request_bucket(action, params)
        wanted = [(self.bucket(region, name, size, now), 1)]
        resource = resource_cost(action, params)
        if resource:
            r_name, r_size, n = resource
            wanted.append((self.bucket(region, r_name, r_size, now), n))
        if any(bucket.level(now) < n for bucket, n in wanted):
            return False
        for bucket, n in wanted:
            bucket.tokens -= n
        return True


def ec2_scope(head):
    """The region of a SigV4-signed EC2 request (from its credential scope), or None for
    another service's."""
    for line in head.decode("latin-1").split("\r\n")[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "authorization" and "Credential=" in value:
            scope = value.split("Credential=", 1)[1].split(",", 1)[0].split("/")
            if len(scope) >= 4 and scope[3] == "ec2":
                return scope[2]
            return None
    return None


def params_of(head, body):
    first = head.split(b"\r\n", 1)[0].decode("latin-1")
    target = first.split(" ")[1] if " " in first else ""
    params = urllib.parse.parse_qs(urllib.parse.urlsplit(target).query)
    params.update(urllib.parse.parse_qs(body.decode("latin-1", "replace")))
    return params


class Proxy:
    def __init__(self, upstream, delay, log, scale=None):
        self.upstream = upstream
        self.delay = delay
        self.log = log
        self.limits = Limits(scale) if scale else None
        self.t0 = time.monotonic()

    async def throttle(self, writer, head, body, started):
        """EC2's answer to a call over the rate, logged; the call never reaches moto."""
        answer = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/xml;charset=UTF-8\r\n"
                  b"Content-Length: %d\r\n\r\n" % len(THROTTLED)) + THROTTLED
        ended = time.monotonic() - self.t0
        self.log.write("%.4f %.4f %s 503\n" % (started, ended, action_of(head, body)))
        self.log.flush()
        writer.write(answer)
        await writer.drain()

    async def serve(self, reader, writer):
        try:
            while True:
                request = await read_message(reader, is_response=False)
                if request is None:
                    break
                head, body = request
                started = time.monotonic() - self.t0
                if self.delay:
                    await asyncio.sleep(self.delay)
                if head.startswith(b"POST /proxy-api/reset "):
                    if self.limits:
                        self.limits.reset()
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                    await writer.drain()
                    continue
                if self.limits:
                    region = ec2_scope(head)
                    params = params_of(head, body)
                    action = params.get("Action", ["-"])[0]
                    if region and not self.limits.take(region, action, params):
                        await self.throttle(writer, head, body, started)
                        continue
                up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream)
                try:
                    up_writer.write(head + body)
                    await up_writer.drain()
                    answer = await read_message(up_reader, is_response=True)
                finally:
                    up_writer.close()
                if answer is None:
                    break
                a_head, a_body = with_aws_namespace(*answer)
                status = a_head.split(b" ", 2)[1].decode("latin-1") if b" " in a_head else "?"
                ended = time.monotonic() - self.t0
                self.log.write("%.4f %.4f %s %s\n" % (started, ended, action_of(head, body), status))
                self.log.flush()
                writer.write(a_head + a_body)
                await writer.drain()
                if b"connection: close" in a_head.lower() and b"content-length" not in a_head.lower():
                    break
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.TimeoutError, ValueError):
            pass
        finally:
            writer.close()


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--upstream", type=int, required=True, help="moto's port on 127.0.0.1")
    parser.add_argument("--delay-ms", type=float, default=0.0)
    parser.add_argument("--ec2-limits", type=float, default=None, metavar="F",
                        help="throttle EC2 calls with AWS's buckets, each F times smaller")
    parser.add_argument("--log", required=True)
    parser.add_argument("--port-file", required=True)
    args = parser.parse_args()
    with open(args.log, "a", buffering=1) as log:
        if args.ec2_limits is not None and args.ec2_limits < 1:
            parser.error("--ec2-limits must be at least 1 (AWS's own buckets)")
        if args.ec2_limits is not None and args.ec2_limits > 5:
            parser.error("--ec2-limits above 5 leaves RunInstances' bucket (5) less than one call")
        proxy = Proxy(args.upstream, args.delay_ms / 1000.0, log, args.ec2_limits)
        server = await asyncio.start_server(proxy.serve, "127.0.0.1", 0, backlog=512)
        port = server.sockets[0].getsockname()[1]
        with open(args.port_file + ".tmp", "w") as f:
            f.write(str(port))
        os.replace(args.port_file + ".tmp", args.port_file)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        async with server:
            await stop.wait()


if __name__ == "__main__":
    asyncio.run(main())
