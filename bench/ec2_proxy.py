"""A loopback HTTP proxy for the AWS benches: forwards every request to moto unchanged (so
signatures stay valid), optionally after a fixed delay (the latency of a far-away API), and logs
one line per call: start and end (seconds since the proxy started), EC2 Action, HTTP status.

    python3 bench/ec2_proxy.py --upstream PORT --delay-ms 100 --log FILE --port-file FILE

It listens on 127.0.0.1 only, on a free port written to --port-file. Client connections are
kept alive (reqwest and requests both reuse them); each forwarded call opens its own upstream
connection, so calls on different client connections overlap exactly as they would at AWS.
Stop it by its pid (SIGTERM).

With --rate R it also throttles, as EC2 does per account and action family: a token bucket of
R calls per second (a burst of R), refilled continuously; a call that finds it empty is not
forwarded and gets EC2's throttling answer (HTTP 503, `RequestLimitExceeded`), logged with
status 503 like any other call.

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


class Bucket:
    """R tokens a second, at most R held; `take` says whether a call may go."""

    def __init__(self, rate):
        self.rate = rate
        self.tokens = rate
        self.at = time.monotonic()

    def take(self):
        now = time.monotonic()
        self.tokens = min(self.rate, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


class Proxy:
    def __init__(self, upstream, delay, log, rate=None):
        self.upstream = upstream
        self.delay = delay
        self.log = log
        self.bucket = Bucket(rate) if rate else None
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
                if self.bucket and not self.bucket.take():
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
    parser.add_argument("--rate", type=float, default=None, help="calls per second before EC2 throttles")
    parser.add_argument("--log", required=True)
    parser.add_argument("--port-file", required=True)
    args = parser.parse_args()
    with open(args.log, "a", buffering=1) as log:
        proxy = Proxy(args.upstream, args.delay_ms / 1000.0, log, args.rate)
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
