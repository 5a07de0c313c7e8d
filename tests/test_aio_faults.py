"""Faults, each with the bound the server or client must meet.

- a client process killed with SIGKILL: the server reports 1006 and frees it, in
  well under a second on an idle machine;
- a server process killed: the client reports 1006, as fast;
- a peer that stops answering (SIGSTOP): keepalive finds it after
  ping_interval + ping_timeout, never before;
- server shutdown: every client receives 1001, including one that never answers,
  which is dropped after close_timeout;
- half a handshake, then silence (or a slow drip): dropped after open_timeout;
- an oversized message: 1009 on the wire, from the header alone or as soon as
  fragments pass the limit, with memory bounded.

Every wait is for an event (a frame, a closed connection, a child's line), never a
sleep. The time bounds are generous (SLACK: a loaded 2-core CI machine can stall a
process for a good part of a second); what they check is the order of magnitude
(seconds, not TCP keep-alive's two hours) and, for timers, that nothing fires
early. Each prints what it measured (see it with ``pytest -s``).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import signal
import struct
import sys
import tracemalloc

import aiohttp
import pytest
import websockets
from _aio_peers import kill_process, python_child
from _aio_util import IMPLEMENTATIONS, impl_or_skip, run, wsfast_server
from websockets.asyncio.client import connect as ws_connect

from wsfast import CloseCode
from wsfast.asyncio import ConnectionClosed, ConnectionClosedError, ConnectionClosedOK, connect

pytestmark = [
    pytest.mark.parametrize("kind", IMPLEMENTATIONS),
    pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL/SIGSTOP are POSIX"),
]

CHILD_CLIENT = """
import asyncio, os
from wsfast.asyncio import connect

async def main():
    ws = await connect(os.environ["TEST_URL"], ping_interval=None)
    await ws.send("hello from the child")
    print("ready", flush=True)
    await asyncio.sleep(60)

asyncio.run(main())
"""


SLACK = 2.0  # seconds a loaded machine may add to any measured delay
EARLY = 0.1  # how much sooner than its timer an event may be seen (the clock read after the start)


def report(what: str, seconds: float) -> None:
    print(f"measured: {what}: {seconds:.3f} s")


def child_env(kind: str, **extra: str) -> dict:
    env = dict(extra)
    if kind == "python":
        env["WSFAST_NO_EXTENSIONS"] = "1"
    return env


async def wait_until(predicate, timeout: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


# ---------------------------------------------------------------- raw clients (to misbehave on purpose)


async def raw_handshake(port: int, path: str = "/") -> tuple:
    """Open a TCP connection and complete the upgrade by hand; returns (reader, writer)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert head.startswith(b"HTTP/1.1 101 "), head
    return reader, writer


def client_frame(opcode: int, payload: bytes = b"", *, fin: bool = True, length: int = -1) -> bytes:
    """A masked frame (all-zero key, so the payload goes as is); `length` may lie."""
    n = len(payload) if length < 0 else length
    b0 = (0x80 if fin else 0) | opcode
    if n < 126:
        head = bytes((b0, 0x80 | n))
    elif n < 65536:
        head = bytes((b0, 0x80 | 126)) + struct.pack("!H", n)
    else:
        head = bytes((b0, 0x80 | 127)) + struct.pack("!Q", n)
    return head + b"\x00\x00\x00\x00" + payload


async def read_close_frame(reader: asyncio.StreamReader, timeout: float = 5.0) -> int:
    """Read server frames until a close frame; return its code."""
    frames = await read_frames(reader, timeout)
    return struct.unpack("!H", frames[-1][1][:2])[0]


# ---------------------------------------------------------------- processes that die or freeze


def test_killed_client_process_is_reported_1006(kind):
    seen = {}

    async def handler(ws):
        seen["opened"] = True
        try:
            async for _ in ws:
                seen["message"] = True
        except ConnectionClosed:
            pass
        seen["code"] = ws.close_code
        seen["at"] = asyncio.get_running_loop().time()

    async def main():
        async with wsfast_server(handler, impl=kind) as (server, url):
            child = await python_child(CHILD_CLIENT, env=child_env(kind, TEST_URL=url))
            try:
                assert await asyncio.wait_for(child.stdout.readline(), 20) == b"ready\n"
                await wait_until(lambda: "message" in seen, 5)
                killed_at = asyncio.get_running_loop().time()
                os.kill(child.pid, signal.SIGKILL)
                await wait_until(lambda: "code" in seen, 10)
            finally:
                await kill_process(child)
            assert seen["code"] == CloseCode.ABNORMAL_CLOSURE
            report("SIGKILLed client -> 1006 on the server", seen["at"] - killed_at)
            assert seen["at"] - killed_at < SLACK
            await wait_until(lambda: not server.connections, SLACK)  # freed

    run(main())


def test_killed_server_process_is_reported_1006(kind):
    async def main():
        server = await python_child(
            "import sys; from wsfast.__main__ import main; sys.exit(main(['serve', '--port', '0']))",
            env=child_env(kind),
        )
        try:
            line = (await asyncio.wait_for(server.stdout.readline(), 20)).decode()
            url = line.split()[-1]
            ws = await connect(url, implementation=impl_or_skip(kind))
            await ws.send("ping me")
            assert await ws.recv() == "ping me"
            loop = asyncio.get_running_loop()
            killed_at = loop.time()
            os.kill(server.pid, signal.SIGKILL)
            with pytest.raises(ConnectionClosedError) as info:
                await asyncio.wait_for(ws.recv(), 10)
            assert info.value.code == CloseCode.ABNORMAL_CLOSURE
            assert ws.close_code == CloseCode.ABNORMAL_CLOSURE
            report("SIGKILLed server -> 1006 on the client", loop.time() - killed_at)
            assert loop.time() - killed_at < SLACK
            await asyncio.wait_for(ws.wait_closed(), SLACK)
        finally:
            await kill_process(server)

    run(main())


def test_server_keepalive_finds_a_frozen_client(kind):
    interval, timeout = 0.3, 0.3
    seen = {}

    async def handler(ws):
        seen["opened_at"] = asyncio.get_running_loop().time()
        try:
            async for _ in ws:
                pass
        except ConnectionClosed:
            pass
        seen["code"] = ws.close_code
        seen["at"] = asyncio.get_running_loop().time()

    async def main():
        options = dict(ping_interval=interval, ping_timeout=timeout)
        async with wsfast_server(handler, impl=kind, **options) as (_, url):
            child = await python_child(CHILD_CLIENT, env=child_env(kind, TEST_URL=url))
            try:
                assert await asyncio.wait_for(child.stdout.readline(), 20) == b"ready\n"
                os.kill(child.pid, signal.SIGSTOP)  # alive for TCP, dead for WebSocket
                await wait_until(lambda: "code" in seen, 10)
            finally:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child.pid, signal.SIGCONT)
                await kill_process(child)
        assert seen["code"] == CloseCode.INTERNAL_ERROR  # 1011: keepalive ping timeout
        detected = seen["at"] - seen["opened_at"]
        report(f"frozen client found by keepalive ({interval} + {timeout} s)", detected)
        assert interval + timeout - EARLY <= detected <= interval + timeout + SLACK

    run(main())


def test_client_keepalive_finds_a_frozen_server(kind):
    interval, timeout = 0.3, 0.3

    async def main():
        server = await python_child(
            "import sys; from wsfast.__main__ import main; sys.exit(main(['serve', '--port', '0']))",
            env=child_env(kind),
        )
        try:
            url = (await asyncio.wait_for(server.stdout.readline(), 20)).decode().split()[-1]
            loop = asyncio.get_running_loop()
            ws = await connect(url, implementation=impl_or_skip(kind), ping_interval=interval,
                               ping_timeout=timeout)
            opened_at = loop.time()
            os.kill(server.pid, signal.SIGSTOP)
            with pytest.raises(ConnectionClosedError) as info:
                await asyncio.wait_for(ws.recv(), 10)
            detected = loop.time() - opened_at
            assert info.value.code == CloseCode.INTERNAL_ERROR
            report(f"frozen server found by keepalive ({interval} + {timeout} s)", detected)
            assert interval + timeout - EARLY <= detected <= interval + timeout + SLACK
            await asyncio.wait_for(ws.wait_closed(), SLACK)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.kill(server.pid, signal.SIGCONT)
            await kill_process(server)

    run(main())


# ---------------------------------------------------------------- graceful shutdown


def test_shutdown_sends_1001_to_every_client(kind):
    close_timeout = 1.0

    async def main():
        async with contextlib.AsyncExitStack() as stack:
            server, url = await stack.enter_async_context(
                wsfast_server(impl=kind, close_timeout=close_timeout))
            impl = impl_or_skip(kind)
            clients = [await connect(url, implementation=impl) for _ in range(10)]
            peers = [await stack.enter_async_context(ws_connect(url)) for _ in range(5)]
            session = await stack.enter_async_context(aiohttp.ClientSession())
            aio = [await session.ws_connect(url) for _ in range(3)]
            silent_reader, silent_writer = await raw_handshake(server.sockets[0].getsockname()[1])
            for ws in clients + peers:
                await ws.send("hello")
                assert await ws.recv() == "hello"
            assert len(server.connections) == 19

            loop = asyncio.get_running_loop()
            started = loop.time()
            server.close()
            for ws in clients:
                with pytest.raises(ConnectionClosedOK) as info:
                    await asyncio.wait_for(ws.recv(), 5)
                assert info.value.code == CloseCode.GOING_AWAY
            for peer in peers:
                with pytest.raises(websockets.ConnectionClosedOK) as info:
                    await asyncio.wait_for(peer.recv(), 5)
                assert info.value.rcvd.code == CloseCode.GOING_AWAY
            for ws in aio:
                msg = await ws.receive(timeout=5)
                assert msg.type == aiohttp.WSMsgType.CLOSE and msg.data == CloseCode.GOING_AWAY
                await ws.close()
            # the silent client never answers: it got the 1001 all the same, and is dropped
            assert await read_close_frame(silent_reader) == CloseCode.GOING_AWAY
            await asyncio.wait_for(server.wait_closed(), close_timeout + 2 * SLACK)
            report(f"shutdown with a silent client (close_timeout {close_timeout} s)", loop.time() - started)
            assert loop.time() - started <= close_timeout + SLACK
            assert not server.connections
            assert await asyncio.wait_for(silent_reader.read(), SLACK) == b""  # TCP closed
            silent_writer.close()

    run(main())


# ---------------------------------------------------------------- the opening handshake


@pytest.mark.parametrize("drip", [False, True], ids=["stall", "slow-loris"])
def test_half_handshake_is_dropped_after_open_timeout(kind, drip):
    open_timeout = 0.3

    async def main():
        async with wsfast_server(impl=kind, open_timeout=open_timeout) as (server, url):
            port = server.sockets[0].getsockname()[1]
            loop = asyncio.get_running_loop()
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            started = loop.time()
            writer.write(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n")

            async def drip_bytes():
                with contextlib.suppress(ConnectionError):
                    for _ in range(100):
                        await asyncio.sleep(0.05)
                        writer.write(b"X")
                        await writer.drain()

            dripper = asyncio.ensure_future(drip_bytes()) if drip else None
            try:
                data = await asyncio.wait_for(reader.read(), 5)
            except ConnectionResetError:
                data = b""
            dropped_after = loop.time() - started
            if dripper is not None:
                dripper.cancel()
            writer.close()
            assert data == b""  # no response: just dropped
            report(f"half handshake dropped (open_timeout {open_timeout} s)", dropped_after)
            assert open_timeout - EARLY <= dropped_after <= open_timeout + SLACK
            await wait_until(lambda: not server.connections, SLACK)

    run(main())


# ---------------------------------------------------------------- oversized messages


def test_oversized_frame_header_gets_1009_before_any_payload(kind):
    async def main():
        async with wsfast_server(impl=kind, max_message_size=1 << 20) as (server, url):
            reader, writer = await raw_handshake(server.sockets[0].getsockname()[1])
            writer.write(client_frame(2, length=1 << 30)[:14])  # claims 1 GiB, sends none of it
            assert await read_close_frame(reader) == CloseCode.MESSAGE_TOO_BIG
            assert await asyncio.wait_for(reader.read(), 5) == b""
            writer.close()

    run(main())


def test_oversized_fragmented_message_gets_1009_with_memory_bounded(kind):
    limit = 1 << 20
    fragment = b"\x01" * 65536
    total = 16 << 20  # what the client tries to send: 16x the limit

    async def main():
        async with wsfast_server(impl=kind, max_message_size=limit) as (server, url):
            reader, writer = await raw_handshake(server.sockets[0].getsockname()[1])
            close_code = asyncio.ensure_future(read_close_frame(reader, 20))
            tracemalloc.start()
            try:
                sent = 0
                with contextlib.suppress(ConnectionError):
                    while sent < total and not close_code.done():
                        writer.write(client_frame(2 if sent == 0 else 0, fragment, fin=False))
                        await writer.drain()
                        sent += len(fragment)
                code = await close_code
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
            writer.close()
            assert code == CloseCode.MESSAGE_TOO_BIG
            assert sent < total  # the server stopped it early
            assert peak < 4 * limit, f"peak {peak} bytes while receiving an oversized message"

    run(main(), 60)



# ---------------------------------------------------------------- protocol violations


async def read_frame(reader: asyncio.StreamReader, timeout: float = 5.0) -> tuple:
    """(opcode, payload) of the next (unmasked) server frame."""
    b0, b1 = await asyncio.wait_for(reader.readexactly(2), timeout)
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack("!H", await reader.readexactly(2))[0]
    elif n == 127:
        n = struct.unpack("!Q", await reader.readexactly(8))[0]
    return b0 & 0x0F, await reader.readexactly(n)


async def read_frames(reader: asyncio.StreamReader, timeout: float = 5.0) -> list:
    """(opcode, payload) of server frames until (and including) a close frame."""
    frames = []
    while True:
        frames.append(await read_frame(reader, timeout))
        if frames[-1][0] == 8:
            return frames


async def good_then_bad(port: int, bad: bytes, apart: bool) -> list:
    """Send a text and a binary message ("first", b"second"), then ``bad``: in one write, or
    apart (after both echoes came back). The server's frames, up to its close frame."""
    reader, writer = await raw_handshake(port)
    good = client_frame(1, b"first") + client_frame(2, b"second")
    if apart:
        writer.write(good)
        frames = [await read_frame(reader), await read_frame(reader)]  # both echoes came back
        writer.write(bad)
        frames += await read_frames(reader)
    else:
        writer.write(good + bad)
        frames = await read_frames(reader)
    writer.close()
    return frames


@pytest.mark.parametrize("apart", [False, True], ids=["one-write", "apart"])
@pytest.mark.parametrize(
    "bad, code",
    [
        (client_frame(5, b"reserved opcode"), CloseCode.PROTOCOL_ERROR),
        (client_frame(1, b"\xff\xfe not UTF-8"), CloseCode.INVALID_PAYLOAD),
        (client_frame(2, length=1 << 21)[:64], CloseCode.MESSAGE_TOO_BIG),  # its header claims 2 MiB
    ],
    ids=["1002", "1007", "1009"],
)
def test_messages_before_a_violation_are_echoed_before_the_close(kind, bad, code, apart):
    """Good messages, then a violation: the good ones are handled and echoed, then the close
    frame goes out. In one write (the server reads them together: the failing close frame is
    held back until the handler has read them) or apart (the violation comes after the echoes)."""
    handled = []

    async def handler(ws):
        try:
            async for message in ws:
                handled.append(message)
                await ws.send(message)
        except ConnectionClosedError as exc:
            handled.append(exc.code)

    async def main():
        async with wsfast_server(handler, impl=kind, max_message_size=1 << 20) as (server, url):
            frames = await good_then_bad(server.sockets[0].getsockname()[1], bad, apart)
        assert frames[:2] == [(1, b"first"), (2, b"second")]  # echoed first, then the failure
        assert len(frames) == 3 and frames[2][0] == 8
        assert struct.unpack("!H", frames[2][1][:2])[0] == code
        assert handled == ["first", b"second", code]

    run(main())
