"""wsfast.pubsub.Hub: in one process, and across processes through a real redis-server.

- the in-process hub: delivery, order, str/bytes, nested and ended subscriptions, closed and
  slow subscribers;
- the envelope on the Redis channel, and plain PUBLISH from another client;
- two wsfast server processes on different ports, clients on each, publishers on both: every
  client receives every message, each publisher's in its order, everyone the same order;
- faults: Redis down at start (a clear error), Redis restarted (the hub reconnects and
  resubscribes by itself, the gap is logged), a slow client does not hold the channel back.
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from _aio_util import wsfast_server
from _redis_server import closed_port_url, own_redis_server, redis_server  # noqa: F401 - fixtures

from wsfast.asyncio import ConnectionClosed, connect
from wsfast.pubsub import BINARY_MARK, Hub, HubUnavailable, decode_payload, encode_payload

TESTS = Path(__file__).parent


def run(coro, timeout=60.0):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def subscriber_handler(hub, channel="room", ready=None):
    """A server handler: subscribe, say so, then publish whatever the client sends."""

    async def handler(ws):
        try:
            async with hub.subscribe(ws, channel):
                await ws.send("subscribed")
                async for message in ws:
                    await hub.publish(channel, message)
        except ConnectionClosed:
            pass

    return handler


async def subscribed_client(url, **options):
    ws = await connect(url, ping_interval=None, **options)
    assert await asyncio.wait_for(ws.recv(), 10) == "subscribed"
    return ws


async def receive(ws, count, timeout=20.0):
    return [await asyncio.wait_for(ws.recv(), timeout) for _ in range(count)]


def messages(n, tag=""):
    """Alternating text and binary, each naming its index."""
    return [f"{tag}text {i} \u00e9\u20ac" if i % 2 == 0 else f"{tag}bin {i}".encode() + b"\xff\x00"
            for i in range(n)]


# ------------------------------------------------------------------ the envelope


@pytest.mark.parametrize("message", ["", "plain text", "\u00e9\u20ac\U0001F600", b"", b"\x00\xff binary",
                                     b"valid utf-8 but binary", bytearray(b"ba"), memoryview(b"mv")])
def test_envelope_round_trip(message):
    decoded = decode_payload(encode_payload(message))
    if isinstance(message, str):
        assert decoded == message and type(decoded) is str
    else:
        assert decoded == bytes(message) and type(decoded) is bytes


def test_envelope_format():
    assert encode_payload("h\u00e9") == "h\u00e9".encode()  # text travels unchanged
    assert encode_payload(b"\x01") == BINARY_MARK + b"\x01" == b"\xffWSB\x01"
    # payloads without the envelope (another service's PUBLISH)
    assert decode_payload(b"hello") == "hello"
    assert decode_payload(b"\xc3\xa9") == "\u00e9"
    assert decode_payload(b"\xc3") == b"\xc3"  # truncated UTF-8: binary
    assert decode_payload(b"\xffWS") == b"\xffWS"  # too short to be the mark
    with pytest.raises(TypeError):
        encode_payload(42)


# ------------------------------------------------------------------ in this process


def test_in_process_hub_delivers_in_order_keeping_types():
    hub = Hub()

    async def main():
        async with wsfast_server(subscriber_handler(hub)) as (server, url):
            clients = [await subscribed_client(url) for _ in range(5)]
            assert hub.subscribers("room") == 5
            sent = messages(200)
            for message in sent:
                await hub.publish("room", message)
            for ws in clients:
                got = await receive(ws, len(sent))
                assert got == sent
                assert [type(m) for m in got] == [type(m) for m in sent]
            # a client's own message goes through the hub to everyone
            await clients[0].send("from a client")
            for ws in clients:
                assert await asyncio.wait_for(ws.recv(), 10) == "from a client"
            for ws in clients:
                await ws.close()
        assert hub.subscribers("room") == 0
        assert hub.published == 201 and hub.delivered == 201 * 5 and hub.skipped == 0

    run(main())


def test_channels_are_separate_and_subscriptions_end():
    hub = Hub()

    async def handler(ws):
        async with hub.subscribe(ws, "a"):
            async with hub.subscribe(ws, "b"):
                async with hub.subscribe(ws, "a"):  # nested: still subscribed after the inner exit
                    await ws.send("in")
                    await ws.recv()
                await ws.send("inner done")
                await ws.recv()
            await ws.send("b done")
            await ws.recv()
        await ws.send("all done")
        await ws.recv()

    async def main():
        async with wsfast_server(handler) as (server, url):
            ws = await connect(url, ping_interval=None)
            assert await ws.recv() == "in"
            await hub.publish("a", "a1")
            await hub.publish("b", "b1")
            await hub.publish("c", "nobody")
            assert await receive(ws, 2) == ["a1", "b1"]
            await ws.send("next")
            assert await ws.recv() == "inner done"
            await hub.publish("a", "a2")
            assert await ws.recv() == "a2"
            await ws.send("next")
            assert await ws.recv() == "b done"
            await hub.publish("b", "b-gone")
            await hub.publish("a", "a3")
            assert await ws.recv() == "a3"  # b's message did not come
            await ws.send("next")
            assert await ws.recv() == "all done"
            await hub.publish("a", "a-gone")
            await ws.send("next")
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 5)  # the handler returned: nothing else came
            assert hub.subscribers("a") == hub.subscribers("b") == 0

    run(main())


def test_arguments_are_checked():
    hub = Hub()

    async def main():
        with pytest.raises(TypeError):
            await hub.publish("room", 42)
        with pytest.raises(ValueError):
            await hub.publish("", "x")
        with pytest.raises(ValueError):
            hub.subscribe(object(), b"room")

    run(main())
    with pytest.raises(ValueError, match="redis://"):
        Hub("http://127.0.0.1:6379")


def test_closing_subscribers_are_skipped():
    hub = Hub()

    async def main():
        async with wsfast_server(subscriber_handler(hub), close_timeout=2) as (server, url):
            staying, leaving = await subscribed_client(url), await subscribed_client(url)
            await leaving.close()
            await hub.publish("room", "after")  # the leaving one may still be registered: ignored
            assert await staying.recv() == "after"
            await staying.close()

    run(main())


@pytest.mark.parametrize("backend", ["local", "redis"])
def test_a_slow_client_does_not_hold_the_channel_back(backend, redis_server):  # noqa: F811
    write_limit = 256 * 1024
    hub = Hub(None if backend == "local" else redis_server.url)
    payload = b"\x00" * (64 * 1024)
    count = 150  # ~9.6 MiB: far more than the slow client's socket buffers hold

    async def main():
        # uncompressed: zeros would compress to nothing and never fill a buffer
        async with wsfast_server(subscriber_handler(hub), max_queue=None, write_limit=write_limit,
                                 compression=None) as (server, url):
            fast = await subscribed_client(url, max_message_size=None)
            # reads one message then stops reading (max_queue=1 pauses its socket)
            slow = await subscribed_client(url, max_queue=1, max_message_size=None)
            slow_server_side = next(c for c in server.connections
                                    if c.remote_address[1] == slow.local_address[1])
            worst = 0
            # in lock step with the fast client: the channel moves at its pace, whatever the slow one does
            for i in range(count):
                message = payload + i.to_bytes(4, "big")
                await hub.publish("room", message)
                assert await asyncio.wait_for(fast.recv(), 20) == message
                worst = max(worst, slow_server_side.transport.get_write_buffer_size())
            assert hub.skipped > 0
            # memory for the slow one stays bounded: the limit plus at most one message
            assert worst <= write_limit + len(payload) + 16
            await fast.close()
            slow.transport.abort()
        await hub.close()

    run(main())


# ------------------------------------------------------------------ Redis: faults


def test_redis_down_at_start_is_a_clear_error():
    url = closed_port_url()

    async def main():
        hub = Hub(url, connect_timeout=2)
        with pytest.raises(HubUnavailable) as info:
            await hub.start()
        assert url in str(info.value) and isinstance(info.value, ConnectionError)
        with pytest.raises(HubUnavailable):
            await hub.publish("room", "x")
        async with wsfast_server(subscriber_handler(hub)) as (server, ws_url):
            ws = await connect(ws_url, ping_interval=None)
            with pytest.raises(ConnectionClosed):  # the handler failed on subscribe: 1011
                await asyncio.wait_for(ws.recv(), 10)
            assert ws.close_code == 1011
        assert hub.subscribers("room") == 0
        await hub.close()

    run(main())


def test_redis_restarted_the_hub_resubscribes_by_itself(own_redis_server, caplog):  # noqa: F811
    redis = own_redis_server
    subscribing = Hub(redis.url)
    publishing = Hub(redis.url)  # another process's hub, as far as Redis can tell

    async def main():
        loop = asyncio.get_running_loop()
        async with wsfast_server(subscriber_handler(subscribing)) as (server, url):
            clients = [await subscribed_client(url) for _ in range(3)]
            before = messages(20, "before ")
            for message in before:
                await publishing.publish("room", message)
            for ws in clients:
                assert await receive(ws, len(before)) == before

            await loop.run_in_executor(None, redis.stop)
            with pytest.raises(HubUnavailable):
                await publishing.publish("room", "during the outage")
            for _ in range(100):  # the subscriber's reader notices the closed connection
                if not subscribing.connected:
                    break
                await asyncio.sleep(0.05)
            assert not subscribing.connected
            await loop.run_in_executor(None, redis.start)

            # probes until the subscription is back (it reconnects on its own schedule)
            probe = 0
            for _ in range(200):
                await publishing.publish("room", f"probe {probe}")
                probe += 1
                try:
                    got = await asyncio.wait_for(clients[0].recv(), 0.1)
                    break
                except asyncio.TimeoutError:
                    continue
            else:
                raise AssertionError("no message reached the subscriber after Redis restarted")
            assert got.startswith("probe ")
            first_probe = int(got.split()[1])
            after = messages(50, "after ")
            for message in after:
                await publishing.publish("room", message)
            expected_probes = [f"probe {i}" for i in range(first_probe, probe)]
            assert await receive(clients[0], len(expected_probes) - 1 + len(after)) \
                == expected_probes[1:] + after
            for ws in clients[1:]:
                got = await receive(ws, len(expected_probes) + len(after))
                assert got[-len(after):] == after
                assert all(isinstance(m, str) and m.startswith("probe ") for m in got[:-len(after)])
            for ws in clients:
                await ws.close()
        assert subscribing.outages == 1
        await subscribing.close()
        await publishing.close()

    with caplog.at_level(logging.WARNING, "wsfast.pubsub"):
        run(main())
    logged = [r.getMessage() for r in caplog.records if r.name == "wsfast.pubsub"]
    assert any(m.startswith("lost the Redis connection") and "at-most-once" in m for m in logged), logged
    assert any(m.startswith("reconnected to Redis after") and "resubscribed to 1 channel" in m
               for m in logged), logged


def test_plain_publish_from_another_service(redis_server):  # noqa: F811
    import redis.asyncio

    hub = Hub(redis_server.url)

    async def main():
        other = redis.asyncio.Redis.from_url(redis_server.url)
        async with wsfast_server(subscriber_handler(hub)) as (server, url):
            ws = await subscribed_client(url)
            for raw in (b"plain text", "caf\u00e9".encode(), b"\xff\xfe not utf-8", BINARY_MARK + b"ours",
                        b""):
                await other.publish("room", raw)
            assert await receive(ws, 5) == ["plain text", "caf\u00e9", b"\xff\xfe not utf-8", b"ours", ""]
            await ws.close()
        await other.aclose()
        await hub.close()

    run(main())


# ------------------------------------------------------------------ Redis: two server processes


class ServerProcess:
    def __init__(self, redis_url):
        env = dict(os.environ, WSFAST_TEST_REDIS_URL=redis_url,
                   PYTHONPATH=os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "wsfast", "serve", "_deploy_handlers:hub_chat", "--port", "0",
             "--ping-interval", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        line = self.proc.stdout.readline()
        assert "listening on" in line, (line, self.proc.poll() is not None and self.proc.stderr.read())
        self.url = line.split()[-1]

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        return self.proc.stderr.read()


def test_two_server_processes_share_a_channel_through_redis(redis_server):  # noqa: F811
    servers = [ServerProcess(redis_server.url) for _ in range(2)]
    assert servers[0].url != servers[1].url
    try:
        async def main():
            clients = {}
            for server in servers:  # (no nested async comprehension: Python 3.9 refuses it)
                clients[server.url] = [await subscribed_client(server.url) for _ in range(3)]
            publisher_a, publisher_b = clients[servers[0].url][0], clients[servers[1].url][0]
            from_a, from_b = messages(150, "A "), messages(150, "B ")

            async def send_all(ws, batch):
                for message in batch:
                    await ws.send(message)

            await asyncio.gather(send_all(publisher_a, from_a), send_all(publisher_b, from_b))
            orders = []
            for ws in [ws for group in clients.values() for ws in group]:
                got = await receive(ws, len(from_a) + len(from_b))
                assert sorted(map(repr, got)) == sorted(map(repr, from_a + from_b))  # everything, once
                # each publisher's messages in the order it sent them, types kept
                assert [m for m in got if (m[:2] if isinstance(m, str) else m[:2].decode()) == "A "] == from_a
                assert [m for m in got if (m[:2] if isinstance(m, str) else m[:2].decode()) == "B "] == from_b
                orders.append(got)
            assert all(order == orders[0] for order in orders)  # and one order for everyone
            for group in clients.values():
                for ws in group:
                    await ws.close()

        run(main(), timeout=90)
    finally:
        errors = [server.stop() for server in servers]
    assert not any("Traceback" in e for e in errors), errors
