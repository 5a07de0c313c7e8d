"""Listener mode (``serve(MyListener, ...)``): callbacks inside the read path, over loopback.

Every test runs with the compiled and with the pure-Python hot path (``kind``,
which also picks the ListenerPath twin). The last tests feed both ListenerPath
twins the same events and compare what they do, call for call.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
from typing import Any, List

import pytest
from _aio_util import (
    BIG,
    IMPLEMENTATIONS,
    SIZES,
    binary_of,
    client_options,
    impl_or_skip,
    run,
    text_of,
    wsfast_server,
)
from test_aio_faults import client_frame, good_then_bad, raw_handshake, read_frame, wait_until

from wsfast import CloseCode
from wsfast.asyncio import ConnectionClosed, ConnectionClosedError, ConnectionClosedOK, Listener, connect
from wsfast.exceptions import InvalidState


class Echo(Listener):
    def on_message(self, ws: Any, message: Any) -> None:
        ws.send_now(message)


@pytest.mark.parametrize("kind", IMPLEMENTATIONS)
def test_echo_every_size_text_and_binary_compressed_or_not(kind):
    async def main():
        for compression in ("deflate", None):
            async with wsfast_server(Echo, impl=kind, compression=compression) as (server, url), \
                    connect(url, **client_options(kind, compression=compression)) as ws:
                assert (ws.protocol.deflate is not None) == (compression is not None)
                conn = next(iter(server.connections))
                twin = "c" if kind == "c" else "py"
                assert type(conn._listener_path).__module__ == f"wsfast._datapath_{twin}"
                for size in SIZES:
                    for message in (text_of(size), binary_of(size)):
                        await ws.send(message)
                        echoed = await ws.recv()
                        assert type(echoed) is type(message)
                        assert echoed == message
            assert ws.close_code == CloseCode.NORMAL

    run(main(), 90)


@pytest.mark.parametrize("kind", IMPLEMENTATIONS)
def test_callbacks_in_order_with_a_greeting_a_timer_and_a_task(kind):
    """on_open (which may send), every message in order, on_close once with the close code;
    send_now() outside a read callback (a timer) and await send() from a task go out too."""
    calls: List[Any] = []
    closed = asyncio.Event

    class Recorder(Listener):
        def on_open(self, ws):
            calls.append(("open", ws.request.path))
            ws.send_now("hello")
            asyncio.get_running_loop().call_later(0.01, ws.send_now, b"timer")

            async def task():
                await ws.send("task")

            self.task = asyncio.get_running_loop().create_task(task())

        def on_message(self, ws, message):
            calls.append(("message", message))
            ws.send_now(message)
            ws.send_now(message)

        def on_close(self, ws):
            calls.append(("close", ws.close_code))
            with pytest.raises(ConnectionClosedOK):
                ws.send_now("too late")
            self.closed.set()

    async def main():
        Recorder.closed = closed()
        async with wsfast_server(Recorder, impl=kind) as (server, url):
            async with connect(url + "/room?x=1", **client_options(kind)) as ws:
                first = [await ws.recv() for _ in range(3)]
                assert first[0] == "hello" and sorted(first[1:], key=str) == [b"timer", "task"]
                for i in range(50):
                    await ws.send(f"m{i}")
                for i in range(50):
                    assert [await ws.recv(), await ws.recv()] == [f"m{i}", f"m{i}"]
            await asyncio.wait_for(Recorder.closed.wait(), 5)
        assert calls == [("open", "/room?x=1")] + [("message", f"m{i}") for i in range(50)] + [
            ("close", CloseCode.NORMAL)]

    run(main())


@pytest.mark.parametrize("kind", IMPLEMENTATIONS)
@pytest.mark.parametrize("where", ["on_open", "on_message"])
def test_a_failing_callback_closes_with_1011_and_is_logged(kind, where, caplog):
    class Failing(Listener):
        def on_open(self, ws):
            if where == "on_open":
                raise RuntimeError("on_open failure requested by the test")

        def on_message(self, ws, message):
            ws.send_now(message)  # queued before the failure: still goes out first
            raise RuntimeError("on_message failure requested by the test")

    async def main():
        async with wsfast_server(Failing, impl=kind) as (server, url), \
                connect(url, **client_options(kind)) as ws:
            if where == "on_message":
                await ws.send("boom")
                assert await ws.recv() == "boom"
            with pytest.raises(ConnectionClosedError) as info:
                await ws.recv()
            assert info.value.code == CloseCode.INTERNAL_ERROR

    with caplog.at_level(logging.ERROR, logger="wsfast.asyncio.server"):
        run(main())
    assert [r.message for r in caplog.records] == [f"listener {where} failed"]


@pytest.mark.parametrize("kind", IMPLEMENTATIONS)
@pytest.mark.parametrize("apart", [False, True], ids=["one-write", "apart"])
def test_messages_before_a_violation_are_echoed_before_the_close(kind, apart):
    async def main():
        async with wsfast_server(Echo, impl=kind, max_message_size=1 << 20) as (server, url):
            frames = await good_then_bad(server.sockets[0].getsockname()[1],
                                         client_frame(1, b"\xff\xfe not UTF-8"), apart)
        assert frames[:2] == [(1, b"first"), (2, b"second")]
        assert len(frames) == 3 and frames[2][0] == 8
        assert struct.unpack("!H", frames[2][1][:2])[0] == CloseCode.INVALID_PAYLOAD

    run(main())


@pytest.mark.parametrize("kind", IMPLEMENTATIONS)
def test_a_peer_that_never_reads_pauses_reading_and_bounds_the_buffer(kind):
    """The listener echoes a flood from a client that reads nothing: once the transport's write
    buffer is over the high-water mark the server stops reading, so what it buffers stays
    bounded by write_limit plus one read's echo; the client vanishing ends it with 1006."""
    high = 64 * 1024
    ended: List[Any] = []

    class Watched(Echo):
        def on_open(self, ws):
            self.ws = ws
            Watched.conn = ws

        def on_close(self, ws):
            ended.append(ws.close_code)

    async def main():
        async with wsfast_server(Watched, impl=kind, write_limit=high, compression=None) as (server, url):
            port = server.sockets[0].getsockname()[1]
            reader, writer = await raw_handshake(port)
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            message = client_frame(2, binary_of(32 * 1024))

            async def flood():
                while True:
                    writer.write(message)
                    await writer.drain()

            flooding = asyncio.get_running_loop().create_task(flood())
            await wait_until(lambda: hasattr(Watched, "conn") and not Watched.conn.transport.is_reading(), 20)
            peak = 0
            for _ in range(20):  # it stays paused, and the buffer stays bounded
                await asyncio.sleep(0.02)
                assert not Watched.conn.transport.is_reading()
                peak = max(peak, Watched.conn.transport.get_write_buffer_size())
            assert high <= peak <= high + 256 * 1024 + 64 * 1024
            flooding.cancel()
            writer.transport.abort()
            await wait_until(lambda: ended, 10)
        assert ended == [CloseCode.ABNORMAL_CLOSURE]

    run(main(), 60)


@pytest.mark.parametrize("kind", IMPLEMENTATIONS)
def test_small_answers_to_a_slow_reader_arrive_whole_and_in_order(kind):
    """Small answers go out with one send() of our own while the transport has nothing buffered
    (compiled twin): once the socket is full, what it did not take and everything after goes
    through the transport's buffer. A client that stops reading and then reads everything gets
    every echo, whole, in order."""
    count, size = 20_000, 1000  # 20 MB: more than the kernel buffers of one loopback connection

    async def main():
        async with wsfast_server(Echo, impl=kind, compression=None) as (server, url):
            reader, writer = await raw_handshake(server.sockets[0].getsockname()[1])
            conn = next(iter(server.connections))

            async def send_all():
                for i in range(count):
                    writer.write(client_frame(2, (b"%06d" % i) * (size // 6)))
                    if i % 100 == 99:
                        await writer.drain()

            sending = asyncio.get_running_loop().create_task(send_all())
            await wait_until(lambda: conn.transport.get_write_buffer_size() > 0, 30)  # the socket is full
            for i in range(count):
                assert await read_frame(reader, 20) == (2, (b"%06d" % i) * (size // 6))
            await sending
            writer.close()

    run(main(), 60)


@pytest.mark.parametrize("kind", IMPLEMENTATIONS)
def test_pings_are_answered_and_shutdown_sends_1001(kind):
    ended: List[Any] = []

    class Quiet(Listener):
        def on_close(self, ws):
            ended.append(ws.close_code)

    async def main():
        async with wsfast_server(Quiet, impl=kind) as (server, url):
            ws = await connect(url, **client_options(kind))
            rtt = await asyncio.wait_for(await ws.ping(), 5)
            assert rtt >= 0
            server.close()
            with pytest.raises(ConnectionClosed) as info:
                await ws.recv()
            assert info.value.code == CloseCode.GOING_AWAY
        assert ended == [CloseCode.GOING_AWAY]

    run(main())


@pytest.mark.parametrize("kind", IMPLEMENTATIONS)
def test_echo_to_a_websockets_client(kind):
    websockets_client = pytest.importorskip("websockets.asyncio.client")

    async def main():
        async with wsfast_server(Echo, impl=kind) as (server, url):
            async with websockets_client.connect(url, max_size=BIG) as ws:
                for message in ("héllo", binary_of(100_000), text_of(1 << 20)):
                    await ws.send(message)
                    assert await ws.recv() == message
            assert ws.close_code == CloseCode.NORMAL

    run(main())


# ---------------------------------------------------------------- the ListenerPath twins, side by side


class _Recorder:
    """Stands in for the connection, the protocol and the transport: records what the path does.

    Its send_* queue pieces as a protocol does (``_out``, handed over by data_to_send()); what
    reaches the transport is recorded as ("write", bytes) or ("write_pieces", [...])."""

    message_types = None  # set per test (the event classes)

    def __init__(self, events: List[Any], fail_on: Any = None, closing: bool = False) -> None:
        self.calls: List[Any] = []
        self.events = events
        self.fail_on = fail_on
        self.closing = closing
        self._out: List[bytes] = []

    # the protocol's side
    def receive(self, data: Any) -> List[Any]:
        self.calls.append(("receive", bytes(data)))
        if data == b"eof":
            raise InvalidState("data received after receive_eof()")
        if data == b"oom":
            raise MemoryError("parser")
        return list(self.events)

    def send_text(self, message: str) -> None:
        self.calls.append(("send_text", message))
        self._out.append(message.encode())

    def send_binary(self, message: Any) -> None:
        self.calls.append(("send_binary", bytes(message)))
        self._out.append(bytes(message))
        if message == b"two pieces":
            self._out.append(b"!")

    def data_to_send(self) -> List[bytes]:
        out, self._out = self._out, []
        return out

    def on_message(self, conn: Any, message: Any) -> None:
        self.calls.append(("on_message", message))
        if message == self.fail_on:
            raise (MemoryError if message == "oom" else ValueError)(message)
        conn.path.send_now(message)
        if message == "twice":
            conn.path.send_now(message)

    # the transport's
    def is_closing(self) -> bool:
        return self.closing

    def get_write_buffer_size(self) -> int:
        return 0

    def write(self, data: bytes) -> None:
        self.calls.append(("write", data))

    # the connection's
    def _on_event(self, event: Any) -> None:
        self.calls.append(("event", event))

    def _after_io(self) -> None:
        self.calls.append(("after_io",))

    def _flush(self) -> None:
        self.calls.append(("flush", self.data_to_send()))

    def _write(self, pieces: List[bytes]) -> None:
        self.calls.append(("write_pieces", pieces))

    def _out_of_memory(self, exc: BaseException, drop: bool = False) -> None:
        self.calls.append(("out_of_memory", str(exc), drop))

    def _listener_failed(self) -> None:
        self.calls.append(("listener_failed",))

    def _send_refused(self) -> None:
        self.calls.append(("send_refused",))
        raise ConnectionClosedOK(1000, "")

    def _schedule_flush(self, size: int) -> None:
        self.calls.append(("schedule_flush", size))


class _Text:
    def __init__(self, data: Any) -> None:
        self.data = data


class _Binary(_Text):
    pass


_Recorder.message_types = (_Text, _Binary)


def _drive(kind: str, events: List[Any], feed: List[bytes], fail_on: Any = None, closing: bool = False,
           write_high: int = 1 << 20, later: List[Any] = ()) -> List[Any]:
    impl = impl_or_skip(kind)
    rec = _Recorder(events, fail_on, closing)
    view = memoryview(bytearray(64))
    rec.path = path = impl.ListenerPath(rec, rec, view, rec.on_message, rec, write_high)
    assert path.get_buffer(-1) is view
    for chunk in feed:
        view[:len(chunk)] = chunk
        path.buffer_updated(len(chunk))
    for message in later:  # sends outside a read callback
        try:
            path.send_now(message)
        except ConnectionClosed as exc:
            rec.calls.append(("raised", type(exc).__name__))
    return rec.calls


_CASES = {
    "messages": dict(events=[_Text("a"), _Binary(b"b"), _Text("twice")], feed=[b"x"]),
    "nothing complete": dict(events=[], feed=[b"part", b"more"]),
    "control between": dict(events=[_Binary(b"1"), "ping-event", _Text("2")], feed=[b"x"]),
    "only control": dict(events=["pong-event"], feed=[b"x"]),
    "listener raises": dict(events=[_Text("ok"), _Text("bad"), _Text("never")], feed=[b"x"], fail_on="bad"),
    "listener out of memory": dict(events=[_Text("oom"), _Text("never")], feed=[b"x"], fail_on="oom"),
    "parser out of memory": dict(events=[_Text("never")], feed=[b"oom"]),
    "after eof": dict(events=[_Text("never")], feed=[b"eof"]),
    "write_high reached": dict(events=[_Binary(b"abcd"), _Binary(b"efgh"), _Binary(b"ij")], feed=[b"x"],
                               write_high=8),
    "empty messages": dict(events=[_Binary(b""), _Text("")], feed=[b"x"]),
    "two pieces to write": dict(events=[_Binary(b"two pieces")], feed=[b"x"]),
    "reads of one size, then another": dict(events=[_Binary(b"r")], feed=[b"ab", b"cd", b"efg", b"hi"]),
    "outside a read": dict(events=[], feed=[], later=["t", b"bb", bytearray(b"ccc")]),
    "transport closing": dict(events=[_Text("a")], feed=[b"x"], closing=True, later=["t"]),
}


@pytest.mark.parametrize("case", list(_CASES))
def test_listener_path_twins_make_the_same_calls(case):
    compiled = _drive("c", **_CASES[case])
    pure = _drive("python", **_CASES[case])
    assert compiled == pure
    assert compiled  # every case does something observable


def test_listener_path_calls_in_detail():
    """What the twins agree on is right: the reference's calls for some cases, spelled out."""
    assert _drive("python", **_CASES["messages"]) == [
        ("receive", b"x"), ("on_message", "a"), ("send_text", "a"), ("on_message", b"b"),
        ("send_binary", b"b"), ("on_message", "twice"), ("send_text", "twice"), ("send_text", "twice"),
        ("write_pieces", [b"a", b"b", b"twice", b"twice"])]
    assert _drive("python", **_CASES["listener raises"]) == [
        ("receive", b"x"), ("on_message", "ok"), ("send_text", "ok"), ("on_message", "bad"),
        ("listener_failed",), ("write", b"ok")]
    assert _drive("python", **_CASES["write_high reached"]) == [
        ("receive", b"x"), ("on_message", b"abcd"), ("send_binary", b"abcd"), ("on_message", b"efgh"),
        ("send_binary", b"efgh"), ("write_pieces", [b"abcd", b"efgh"]), ("on_message", b"ij"),
        ("send_binary", b"ij"), ("write", b"ij")]
    assert _drive("python", **_CASES["control between"])[-2:] == [("flush", [b"1", b"2"]), ("after_io",)]
    assert _drive("python", **_CASES["reads of one size, then another"])[::4] == [
        ("receive", b"ab"), ("receive", b"cd"), ("receive", b"efg"), ("receive", b"hi")]
    assert _drive("python", **_CASES["outside a read"]) == [
        ("send_text", "t"), ("schedule_flush", 1), ("send_binary", b"bb"), ("schedule_flush", 2),
        ("send_binary", b"ccc"), ("schedule_flush", 3)]


@pytest.mark.parametrize("kind", IMPLEMENTATIONS)
def test_both_server_shapes_on_aiofastnet_transports(kind):
    """aiofastnet (picows' transports) patched into the loop: wsfast's server, a listener and a
    handler coroutine, and its client run on its compiled transports unchanged."""
    aiofastnet = pytest.importorskip("aiofastnet")
    from _aio_util import echo_handler

    async def main():
        aiofastnet.patch_loop(asyncio.get_running_loop())
        for handler in (Echo, echo_handler):
            async with wsfast_server(handler, impl=kind) as (server, url), \
                    connect(url, **client_options(kind)) as ws:
                assert "aiofastnet" in type(ws.transport).__module__
                assert "aiofastnet" in type(next(iter(server.connections)).transport).__module__
                for message in ("héllo", binary_of(100_000), text_of(1 << 20), b""):
                    await ws.send(message)
                    assert await ws.recv() == message
            assert ws.close_code == CloseCode.NORMAL

    run(main())


@pytest.mark.parametrize("kind", IMPLEMENTATIONS)
def test_listener_over_tls(kind, tmp_path):
    """wss://: the listener runs on the TLS transport (its answers go through the transport: the
    direct send() is for asyncio's plain TCP transport only)."""
    import ssl

    from test_aio_api import _self_signed

    cert, key = _self_signed(tmp_path)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    client_ctx = ssl.create_default_context(cafile=str(cert))

    async def main():
        async with wsfast_server(Echo, impl=kind, ssl=server_ctx) as (server, url):
            async with connect(url.replace("ws://", "wss://"), **client_options(kind, ssl=client_ctx)) as ws:
                for message in ("secure text", binary_of(200_000), b"x" * 64):
                    await ws.send(message)
                    assert await ws.recv() == message
            assert ws.close_code == CloseCode.NORMAL

    run(main())
