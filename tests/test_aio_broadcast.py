"""broadcast(): one frame for every open connection, slow and closing ones skipped, both implementations."""

from __future__ import annotations

import asyncio

import pytest
from _aio_util import IMPLEMENTATIONS, impl_or_skip, run, wsfast_server

from wsfast.asyncio import broadcast, connect
from wsfast.extensions.permessage_deflate import DeflateOptions
from wsfast.protocol import encode_shared

pytestmark = pytest.mark.parametrize("kind", IMPLEMENTATIONS)


def collecting(count):
    """A handler that keeps every server connection (in order); ``joined`` is set once ``count``
    are in."""
    conns = []
    joined = asyncio.Event()

    async def handler(ws):
        conns.append(ws)
        if len(conns) == count:
            joined.set()
        await ws.wait_closed()

    return handler, conns, joined


def test_every_open_connection_gets_every_message_in_order(kind):
    async def main():
        joined = asyncio.Event()
        conns = set()

        async def handler(ws):
            conns.add(ws)
            if len(conns) == 20:
                joined.set()
            await ws.wait_closed()

        async with wsfast_server(handler, impl=kind) as (server, url):
            clients = [await connect(url, implementation=impl_or_skip(kind)) for _ in range(20)]
            await asyncio.wait_for(joined.wait(), 10)
            messages = ["first", b"\x00binary", "\u20ac" * 1000, bytearray(b"bytearray")]
            for message in messages:
                assert broadcast(conns, message) == 20
            for client in clients:
                got = [await asyncio.wait_for(client.recv(), 10) for _ in messages]
                assert got == ["first", b"\x00binary", "\u20ac" * 1000, b"bytearray"]
            with pytest.raises(TypeError):
                broadcast(conns, 42)
            for client in clients:
                await client.close()

    run(main())


def test_closing_and_slow_connections_are_skipped(kind):
    async def main():
        handler, conns, joined = collecting(3)
        # uncompressed: the payload must fill the slow client's buffer
        async with wsfast_server(handler, impl=kind, write_limit=64 * 1024,
                                 compression=None) as (server, url):
            options = dict(implementation=impl_or_skip(kind), max_queue=None)
            fast, slow, leaving = [await connect(url, **options) for _ in range(3)]
            await asyncio.wait_for(joined.wait(), 10)
            by_port = {ws.remote_address[1]: ws for ws in conns}
            server_side = {name: by_port[c.local_address[1]]
                           for name, c in (("fast", fast), ("slow", slow), ("leaving", leaving))}
            slow.transport.pause_reading()  # this client stops reading
            await leaving.close()
            payload = b"x" * 16384
            slow_skipped = False
            for _ in range(2000):  # 32 MB offered; the slow client's buffer must stay bounded
                sent = broadcast(conns, payload)
                assert sent <= 2
                if sent == 1:
                    slow_skipped = True
                await fast.recv()
                await asyncio.sleep(0)
            assert slow_skipped
            # what the slow client holds in our buffer never grows far past the limit
            assert server_side["slow"].transport.get_write_buffer_size() < 64 * 1024 + len(payload) + 64
            assert server_side["leaving"].protocol.state.name == "CLOSED"
            slow.transport.resume_reading()
            await fast.close()
            await slow.close()

    run(main(), 60)


def test_client_connections_each_mask_their_own_frame(kind):
    async def main():
        got = []
        done = asyncio.Event()

        async def handler(ws):
            got.append(await ws.recv())
            if len(got) == 3:
                done.set()
            await ws.wait_closed()

        async with wsfast_server(handler, impl=kind) as (server, url):
            clients = [await connect(url, implementation=impl_or_skip(kind)) for _ in range(3)]
            assert broadcast(clients, "from every client") == 3
            await asyncio.wait_for(done.wait(), 10)
            assert got == ["from every client"] * 3
            for client in clients:
                await client.close()

    run(main())


def test_output_queued_ahead_keeps_its_order_and_fragments_are_not_interrupted(kind):
    """A connection whose protocol holds queued frames gets the broadcast behind them (not written
    past them); one in the middle of a fragmented message is skipped until it finishes."""
    async def main():
        handler, conns, joined = collecting(3)
        async with wsfast_server(handler, impl=kind) as (server, url):
            clients = [await connect(url, implementation=impl_or_skip(kind)) for _ in range(3)]
            await asyncio.wait_for(joined.wait(), 10)
            by_port = {ws.remote_address[1]: ws for ws in conns}
            plain, queued, fragmenting = (by_port[c.local_address[1]] for c in clients)
            assert plain.protocol.writes_encoded_now()
            queued.protocol.send_text("queued first")  # not flushed yet
            fragmenting.protocol.send_text("frag", fin=False)
            assert not queued.protocol.writes_encoded_now()
            assert not fragmenting.protocol.writes_encoded_now()
            assert broadcast(conns, "news") == 2
            fragmenting.protocol.send_continuation("ment", fin=True)
            fragmenting._flush()
            assert broadcast(conns, "more news") == 3
            received = []
            for client, count in zip(clients, (2, 3, 2)):  # (no nested async comprehension: 3.9)
                received.append([await asyncio.wait_for(client.recv(), 10) for _ in range(count)])
            assert received == [["news", "more news"], ["queued first", "news", "more news"],
                                ["fragment", "more news"]]
            for client in clients:
                await client.close()

    run(main())


def test_compressed_once_for_connections_without_context(kind):
    """Server without context takeover, equal settings: every compressing connection is sent the
    same compressed frame object; an uncompressed client gets the plain frame; a message under
    min_size goes out plain to everyone; clients inflate what they got."""
    async def main():
        handler, conns, joined = collecting(5)
        options = DeflateOptions(server_no_context_takeover=True, min_size=64)
        async with wsfast_server(handler, impl=kind, compression=options) as (server, url):
            impl = impl_or_skip(kind)
            clients = [await connect(url, implementation=impl) for _ in range(4)]
            clients.append(await connect(url, implementation=impl, compression=None))
            await asyncio.wait_for(joined.wait(), 10)
            frames = {}
            for ws in conns:
                ws.transport.write = record(ws.transport.write, frames, ws)
            message = '{"event": "tick", "payload": "' + "abc" * 100 + '"}'
            assert broadcast(conns, message) == 5
            sent = [frames[ws] for ws in conns]
            compressed = [f for f in sent if f[0] == 0xC1]
            assert len(compressed) == 4 and all(f is compressed[0] for f in compressed)
            assert [f for f in sent if f[0] == 0x81] == [encode_shared(message)]
            assert len(compressed[0]) < len(message) // 4
            frames.clear()
            assert broadcast(conns, "short") == 5  # under min_size: the plain frame for all
            assert {frames[ws] for ws in conns} == {encode_shared("short")}
            for client in clients:
                assert await asyncio.wait_for(client.recv(), 10) == message
                assert await asyncio.wait_for(client.recv(), 10) == "short"
                await client.close()

    run(main())


def test_connections_with_context_compress_their_own(kind):
    """With context takeover on our side (the default), each connection compresses the message
    with its own compressor: nothing is shared, and every client still reads every message."""
    async def main():
        handler, conns, joined = collecting(3)
        async with wsfast_server(handler, impl=kind) as (server, url):
            impl = impl_or_skip(kind)
            clients = [await connect(url, implementation=impl) for _ in range(3)]
            await asyncio.wait_for(joined.wait(), 10)
            assert all(ws.protocol.shared_key(1000) is None for ws in conns)
            messages = ["the same words again and again " * 20, "the same words again " * 20]
            for message in messages:
                assert broadcast(conns, message) == 3
            for client in clients:
                assert [await asyncio.wait_for(client.recv(), 10) for _ in messages] == messages
                await client.close()

    run(main())


def record(write, frames, ws):
    """transport.write, noting the bytes object each connection was given (the shared frames)."""
    def wrapper(frame):
        frames[ws] = frame
        write(frame)
    return wrapper
