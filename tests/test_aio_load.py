"""Load on loopback: 1,000 concurrent connections exchanging checksummed messages.

Every message carries its connection id, sequence number and the SHA-256 of its
body; the server checks each one (nothing lost, nothing reordered, nothing
corrupted) and answers with what it saw, which the client checks in turn. All
1,000 connections are open at the same time; afterwards none is left open.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import sys

import pytest
from _aio_util import IMPLEMENTATIONS, impl_or_skip, run, wsfast_server

from wsfast.asyncio import ConnectionClosed, connect

CONNECTIONS = 1000
MESSAGES = 20  # per connection, both ways

pytestmark = [pytest.mark.slow, pytest.mark.parametrize("kind", IMPLEMENTATIONS)]


@pytest.fixture(autouse=True)
def enough_file_descriptors():
    """Two sockets per connection live in this process: make sure the fd limit allows it."""
    if sys.platform == "win32":  # no RLIMIT_NOFILE; sockets are not limited that way
        yield
        return
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = 2 * CONNECTIONS + 256
    if soft < needed:
        if hard != resource.RLIM_INFINITY and hard < needed:
            pytest.skip(f"RLIMIT_NOFILE hard limit {hard} < {needed}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def make_message(conn: int, seq: int, rng: random.Random) -> bytes:
    body = rng.randbytes(rng.randrange(0, 4096))
    return f"{conn}:{seq}:{hashlib.sha256(body).hexdigest()}:".encode() + body


def test_thousand_concurrent_connections(kind):
    seen = {}  # connection id -> sequence numbers the server received, in order
    errors = []

    async def handler(ws):
        conn_id = None
        try:
            async for message in ws:
                conn, seq, digest, body = message.split(b":", 3)
                if hashlib.sha256(body).hexdigest().encode() != digest:
                    errors.append(f"corrupted message {conn}:{seq}")
                conn_id = int(conn)
                seen.setdefault(conn_id, []).append(int(seq))
                await ws.send(f"{conn.decode()}:{seq.decode()}:{digest.decode()}")
        except ConnectionClosed:
            pass
        except Exception as exc:  # reported by the test, not swallowed
            errors.append(f"server handler {conn_id}: {exc!r}")

    async def client(url: str, conn: int, impl, start: asyncio.Event, opened: list) -> None:
        rng = random.Random(conn)
        ws = await connect(url, implementation=impl, open_timeout=30)
        opened.append(conn)
        await start.wait()  # every connection is open before any message flows
        try:
            sent = [make_message(conn, seq, rng) for seq in range(MESSAGES)]
            for message in sent[: MESSAGES // 2]:  # pipelined half, then one by one
                await ws.send(message)
            answers = [await ws.recv() for _ in range(MESSAGES // 2)]
            for message in sent[MESSAGES // 2:]:
                await ws.send(message)
                answers.append(await ws.recv())
            expected = [b":".join(m.split(b":", 3)[:3]).decode() for m in sent]
            if answers != expected:
                errors.append(f"client {conn}: answers differ")
        finally:
            await ws.close()

    async def main():
        impl = impl_or_skip(kind)
        async with wsfast_server(handler, impl=kind, backlog=2048, max_message_size=1 << 16) as (server, url):
            start = asyncio.Event()
            opened: list = []
            tasks = [asyncio.ensure_future(client(url, conn, impl, start, opened))
                     for conn in range(CONNECTIONS)]
            for _ in range(600):
                if len(opened) == CONNECTIONS or any(t.done() for t in tasks):
                    break
                await asyncio.sleep(0.05)
            assert len(opened) == CONNECTIONS
            assert len(server.connections) == CONNECTIONS
            start.set()
            await asyncio.gather(*tasks)
            for _ in range(200):
                if not server.connections:
                    break
                await asyncio.sleep(0.05)
            assert not server.connections, f"{len(server.connections)} connections left open"
        assert errors == []
        assert sorted(seen) == list(range(CONNECTIONS))
        assert all(seqs == list(range(MESSAGES)) for seqs in seen.values())

    fds_before = open_fds()
    run(main(), 300)
    if fds_before is not None:
        assert open_fds() <= fds_before + 8, "sockets leaked"


def open_fds():
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:  # no /proc (macOS, Windows)
        return None
