"""Messages per second through wsfast.pubsub.Hub: P server processes x N subscribers each, over Redis.

    python benchmarks/hub_fanout.py                       # 2 processes x 1,000 subscribers, 64-byte messages
    python benchmarks/hub_fanout.py --processes 2 --subscribers 1000 --messages 500 --size 64
    python benchmarks/hub_fanout.py --in-flight 16        # 16 publishes at a time, as 16 senders
    python benchmarks/hub_fanout.py --local               # one process, Hub() without Redis

It starts a redis-server (from PATH) on a free port, P wsfast server processes
whose handler subscribes every connection to one channel, and one client
process per server holding its N connections. The clients are raw sockets
that count the bytes of the frames they receive (no WebSocket parsing: their
cost is one read per frame). Once every connection is subscribed, a publisher
connection asks server 1 to publish M messages through its Hub, awaiting each
publish as one sender on one channel does (latency-bound: each message's
round trip through Redis and server 1's own delivery come before the next),
or ``--in-flight K`` at a time as K senders would (no defined order between
those K); the time runs from that request until every connection of every process has
received all M messages. Reported: messages/s (published and delivered
everywhere) and deliveries/s (messages x connections), and — the figure that
stays put on a machine shared with other work — the CPU time (user + system)
each server process spent per message, and per delivery. Subscribers are never
skipped here (a large write_limit on the server); the skipped count is printed to check.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from typing import List, Optional

CHANNEL = "bench"
HERE = os.path.abspath(__file__)
ROOT = os.path.dirname(os.path.dirname(HERE))

try:  # a fresh clone without ``pip install``: the repository's wsfast (pure Python if not built)
    import wsfast  # noqa: F401
except ImportError:
    sys.path.insert(0, ROOT)
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")]))


def _raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ---------------------------------------------------------------- server process


async def _server(redis_url: Optional[str], ready_fd: int) -> None:
    from wsfast.asyncio import serve
    from wsfast.pubsub import Hub

    hub = Hub(redis_url)
    done = asyncio.get_running_loop().create_future()

    async def handler(ws):
        path = ws.request.path
        if path.startswith("/publish"):
            spec = json.loads(await ws.recv())
            payload = b"p" * spec["size"]
            left = spec["messages"]
            while left:  # in_flight publishes at a time, as that many senders would
                batch = min(left, spec["in_flight"])
                await asyncio.gather(*(hub.publish(CHANNEL, payload) for _ in range(batch)))
                left -= batch
            await ws.send("published")
            await ws.recv()  # the driver says when it has its numbers
            return
        if path.startswith("/stats"):  # "/stats/last": the driver is done with this server
            await ws.send(json.dumps({"delivered": hub.delivered, "skipped": hub.skipped,
                                      "cpu": _cpu_seconds()}))
            if path == "/stats/last" and not done.done():
                done.set_result(None)
            return
        async with hub.subscribe(ws, CHANNEL):
            await ws.send("subscribed")
            await ws.wait_closed()

    async with serve(handler, "127.0.0.1", 0, ping_interval=None, max_queue=None,
                     write_limit=64 * 1024 * 1024) as server:
        port = server.sockets[0].getsockname()[1]
        os.write(ready_fd, f"{port}\n".encode())
        await done
        await asyncio.sleep(0.2)
    await hub.close()


# ---------------------------------------------------------------- client process


class _Counter(asyncio.Protocol):
    """A WebSocket client that only counts the bytes after the 101 response."""

    def __init__(self, expected_first: int) -> None:
        self.head = b""
        self.received = 0
        self.opened = asyncio.get_running_loop().create_future()
        self.target = 0
        self.finished: Optional[asyncio.Future] = None
        self.expected_first = expected_first

    def connection_made(self, transport):
        self.transport = transport
        key = base64.b64encode(os.urandom(16)).decode()
        transport.write(f"GET /sub HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                        f"Sec-WebSocket-Version: 13\r\n\r\n".encode())

    def data_received(self, data):
        if self.head is not None:  # the 101 response
            self.head += data
            end = self.head.find(b"\r\n\r\n")
            if end < 0:
                return
            data, self.head = self.head[end + 4:], None
        self.received += len(data)
        if not self.opened.done() and self.received >= self.expected_first:
            self.received -= self.expected_first
            self.opened.set_result(None)
        if self.finished is not None and not self.finished.done() and self.received >= self.target:
            self.finished.set_result(None)


async def _clients(port: int, count: int, messages: int, size: int) -> None:
    loop = asyncio.get_running_loop()
    frame = 2 + size if size < 126 else 4 + size
    conns: List[_Counter] = []
    for start in range(0, count, 100):  # in batches: the accept backlog is finite
        batch = [loop.create_connection(lambda: _Counter(12), "127.0.0.1", port)
                 for _ in range(min(100, count - start))]
        for _, conn in await asyncio.gather(*batch):
            conns.append(conn)
        await asyncio.gather(*(c.opened for c in conns[start:]))
    for conn in conns:
        conn.target = messages * frame
        conn.finished = loop.create_future()
        if conn.received >= conn.target:
            conn.finished.set_result(None)
    print("subscribed", flush=True)
    await asyncio.gather(*(c.finished for c in conns))
    print(f"done {time.perf_counter()}", flush=True)
    for conn in conns:
        conn.transport.abort()


# ---------------------------------------------------------------- driver


async def _ws_exchange(port: int, path: str, first: Optional[str]) -> tuple:
    from wsfast.asyncio import connect

    ws = await connect(f"ws://127.0.0.1:{port}{path}", ping_interval=None)
    if first is not None:
        await ws.send(first)
    return ws, await ws.recv()


def _spawn(args: List[str], pass_fds=()) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, HERE, *args], stdout=subprocess.PIPE, text=True,
                            pass_fds=pass_fds)


def _start_server(redis_url: Optional[str]) -> tuple:
    read_fd, write_fd = os.pipe()
    proc = _spawn(["--role", "server", "--redis", redis_url or "", "--ready-fd", str(write_fd)], (write_fd,))
    os.close(write_fd)
    with os.fdopen(read_fd) as ready:
        port = int(ready.readline())
    return proc, port


def drive(options: argparse.Namespace) -> None:
    _raise_fd_limit()
    redis_proc = None
    redis_url: Optional[str] = None
    tmp = tempfile.mkdtemp(prefix="wsfast-bench-redis-")
    procs: List[subprocess.Popen] = []
    try:
        if not options.local:
            binary = shutil.which("redis-server")
            if binary is None:
                sys.exit("redis-server is not installed (Debian: apt-get install redis-server)")
            redis_port = _free_port()
            redis_proc = subprocess.Popen(
                [binary, "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                 "--dir", tmp, "--loglevel", "warning"], stdout=subprocess.DEVNULL)
            redis_url = f"redis://127.0.0.1:{redis_port}/0"
            for _ in range(500):
                try:
                    socket.create_connection(("127.0.0.1", redis_port), timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.01)
        processes = 1 if options.local else options.processes
        servers = [_start_server(redis_url) for _ in range(processes)]
        procs += [p for p, _ in servers]
        clients = [_spawn(["--role", "clients", "--port", str(port), "--subscribers",
                           str(options.subscribers), "--messages", str(options.messages),
                           "--size", str(options.size)])
                   for _, port in servers]
        procs += clients
        for client in clients:
            line = client.stdout.readline()
            assert line.strip() == "subscribed", line

        async def publish() -> tuple:
            start = time.perf_counter()
            ws, answer = await _ws_exchange(servers[0][1], "/publish",
                                            json.dumps({"messages": options.messages, "size": options.size,
                                                        "in_flight": options.in_flight}))
            published = time.perf_counter()
            assert answer == "published"
            return ws, start, published

        def stats(path: str) -> List[dict]:
            return [json.loads(loop.run_until_complete(_ws_exchange(port, path, None))[1])
                    for _, port in servers]

        loop = asyncio.new_event_loop()
        before = stats("/stats")
        ws, start, published = loop.run_until_complete(publish())
        finished = max(float(client.stdout.readline().split()[1]) for client in clients)
        loop.run_until_complete(ws.close())
        after = stats("/stats/last")
        loop.close()
        elapsed = finished - start
        total = options.subscribers * processes
        mode = "Hub() in one process" if options.local else f"Redis, {processes} processes"
        print(f"hub fan-out ({mode}) x {options.subscribers} subscribers each = {total} connections, "
              f"{options.messages} messages of {options.size} B, {options.in_flight} publish(es) in flight")
        print(f"  publishing took {published - start:.3f} s; every connection had every message after "
              f"{elapsed:.3f} s")
        print(f"  {options.messages / elapsed:,.0f} messages/s, {options.messages * total / elapsed:,.0f} "
              f"deliveries/s; skipped: {sum(s['skipped'] for s in after)}")
        cpu = [a["cpu"] - b["cpu"] for a, b in zip(after, before)]
        per_message = [c / options.messages * 1e3 for c in cpu]
        per_delivery = sum(cpu) / (options.messages * total) * 1e6
        print(f"  server CPU (user + system) per message: "
              f"{', '.join(f'{m:.2f} ms' for m in per_message)} (process 1 also published); "
              f"{per_delivery:.2f} us per delivery")
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        if redis_proc is not None:
            redis_proc.terminate()
            redis_proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--subscribers", type=int, default=1000, help="per process")
    parser.add_argument("--messages", type=int, default=500)
    parser.add_argument("--in-flight", type=int, default=1,
                        help="publishes awaited together (1: one sender awaiting each publish)")
    parser.add_argument("--size", type=int, default=64, help="payload bytes")
    parser.add_argument("--local", action="store_true", help="one process, Hub() without Redis")
    parser.add_argument("--role", choices=["driver", "server", "clients"], default="driver",
                        help=argparse.SUPPRESS)
    parser.add_argument("--redis", default="", help=argparse.SUPPRESS)
    parser.add_argument("--ready-fd", type=int, default=-1, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    if options.role == "server":
        _raise_fd_limit()
        asyncio.run(_server(options.redis or None, options.ready_fd))
    elif options.role == "clients":
        _raise_fd_limit()
        asyncio.run(_clients(options.port, options.subscribers, options.messages, options.size))
    else:
        drive(options)


if __name__ == "__main__":
    main()
