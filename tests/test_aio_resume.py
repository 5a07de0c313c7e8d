"""A handler waiting in recv() resumes inside the read callback, not on the next loop pass.

The connection runs on a real selector transport over a socket pair; the peer's
side is a plain socket that sends frames built by hand and reads what comes
back. Data is fed the way the transport feeds it (``data_received`` from a
plain loop callback, no task running), and also from a task (where asyncio
refuses to step another task: the handler must then run later, with nothing
lost or reordered). A recv() that is cancelled (``wait_for``'s timeout, a
cancelled task) must leave the message it was handed first in the queue.
Large frames (header and payload written together where the transport allows)
must arrive intact whatever the socket takes at once.

Every test runs with the compiled and with the pure-Python hot path.
"""

from __future__ import annotations

import asyncio
import socket

import pytest
from _aio_util import IMPLEMENTATIONS, binary_of, impl_or_skip, run
from frames_helpers import raw_frame

from wsfast.asyncio.connection import Connection
from wsfast.handshake import ClientHandshake
from wsfast.protocol import ServerProtocol

pytestmark = pytest.mark.parametrize("kind", IMPLEMENTATIONS)


def _opened(kind: str) -> ServerProtocol:
    protocol = ServerProtocol(impl=impl_or_skip(kind), ping_interval=None, max_message_size=None)
    protocol.receive_data(ClientHandshake("ws://h/").request.serialize())
    (request,) = protocol.events()
    protocol.send_response(protocol.accept(request))
    protocol.data_to_send()
    return protocol


async def _connection(kind: str, **options):
    """An open server Connection on a real transport, and the peer's plain socket."""
    ours, peer = socket.socketpair()
    peer.setblocking(False)
    conn = Connection(_opened(kind), **options)
    await asyncio.get_running_loop().connect_accepted_socket(lambda: conn, sock=ours)
    return conn, peer


async def _read(peer: socket.socket, n: int, timeout: float = 10.0) -> bytes:
    loop = asyncio.get_running_loop()
    data = b""
    async with asyncio.timeout(timeout) if hasattr(asyncio, "timeout") else _nothing():
        while len(data) < n:
            data += await loop.sock_recv(peer, n - len(data))
    return data


class _nothing:
    async def __aenter__(self):
        return None

    async def __aexit__(self, *exc):
        return False


def _echo_handler(received):
    async def handler(ws):
        async for message in ws:
            received.append(message)
            await ws.send(message)
    return handler


def test_waiting_handler_answers_inside_the_read_callback(kind):
    async def main():
        conn, peer = await _connection(kind)
        received = []
        task = asyncio.create_task(_echo_handler(received)(conn))
        await asyncio.sleep(0)  # the handler waits in recv()
        seen = []
        loop = asyncio.get_running_loop()
        for i in range(3):
            payload = b"m%d" % i
            done = loop.create_future()

            def read_callback(payload=payload, done=done):  # as the transport's: no task runs here
                conn.data_received(raw_frame(2, payload))
                seen.append(list(received))  # the handler has already taken the message...
                done.set_result(None)

            loop.call_soon(read_callback)
            await done
            assert await _read(peer, 2 + len(payload)) == raw_frame(2, payload, key=None)  # ...and answered
        assert seen == [[b"m0"], [b"m0", b"m1"], [b"m0", b"m1", b"m2"]]
        task.cancel()
        peer.close()

    run(main())


def test_data_fed_from_a_task_reaches_the_handler_later_in_order(kind):
    async def main():
        conn, peer = await _connection(kind)
        received = []
        task = asyncio.create_task(_echo_handler(received)(conn))
        await asyncio.sleep(0)
        # from a task: asyncio cannot step the handler here, so it runs on a later pass
        conn.data_received(raw_frame(2, b"a") + raw_frame(1, b"b"))
        conn.data_received(raw_frame(2, b"c"))
        assert received == []
        expected = raw_frame(2, b"a", key=None) + raw_frame(1, b"b", key=None) + raw_frame(2, b"c", key=None)
        assert await _read(peer, len(expected)) == expected
        assert received == [b"a", "b", b"c"]
        task.cancel()
        peer.close()

    run(main())


def test_single_messages_fed_from_a_task_keep_their_order(kind):
    async def main():
        conn, peer = await _connection(kind)
        waiting = asyncio.create_task(conn.recv())
        await asyncio.sleep(0)  # waits in recv()
        for payload in (b"1", b"2", b"3"):  # one read each, before the waiting task can run
            conn.data_received(raw_frame(2, payload))
        assert [await waiting, await conn.recv(), await conn.recv()] == [b"1", b"2", b"3"]
        peer.close()

    run(main())


def test_recv_timing_out_loses_nothing(kind):
    async def main():
        conn, peer = await _connection(kind)
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(conn.recv(), 0.05)
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        loop.call_soon(lambda: (conn.data_received(raw_frame(2, b"x") + raw_frame(2, b"y")),
                                done.set_result(None)))
        await done
        assert [await conn.recv(), await conn.recv()] == [b"x", b"y"]
        peer.close()

    run(main())


def test_recv_cancelled_after_its_message_came_leaves_it_first(kind):
    async def main():
        conn, peer = await _connection(kind)
        waiting = asyncio.create_task(conn.recv())
        await asyncio.sleep(0)  # waits in recv()
        conn.data_received(raw_frame(2, b"first") + raw_frame(2, b"second"))  # from a task: scheduled
        waiting.cancel()  # before its step runs
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert [await conn.recv(), await conn.recv()] == [b"first", b"second"]
        # and again when the cancellation comes while the waiter is still pending
        waiting = asyncio.create_task(conn.recv())
        await asyncio.sleep(0)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        conn.data_received(raw_frame(2, b"third"))
        assert await conn.recv() == b"third"
        peer.close()

    run(main())


def test_recv_in_a_task_cancelled_by_the_handler_step_loses_nothing(kind):
    async def main():
        conn, peer = await _connection(kind)
        got = []

        async def handler():
            try:
                await conn.recv()
            except asyncio.CancelledError:
                got.append("cancelled")
            got.append(await conn.recv())
            got.append(await conn.recv())

        task = asyncio.create_task(handler())
        await asyncio.sleep(0)
        task.cancel()  # the task must cancel at its next step, whatever resolves its waiter
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        loop.call_soon(lambda: (conn.data_received(raw_frame(2, b"p") + raw_frame(2, b"q")),
                                done.set_result(None)))
        await done
        await asyncio.wait_for(task, 5)
        assert got == ["cancelled", b"p", b"q"]
        peer.close()

    run(main())


@pytest.mark.parametrize("size", [300 * 1024, 3 * 1024 * 1024])
def test_large_frames_arrive_intact_whatever_the_socket_takes(kind, size):
    async def main():
        conn, peer = await _connection(kind, write_limit=16 * 1024 * 1024)
        peer.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # the socket takes a part at once
        messages = [binary_of(size), binary_of(size // 3 + 1)[::-1], b"small", binary_of(size)]
        for message in messages:
            await conn.send(message)
        expected = b"".join(raw_frame(2, m, key=None) for m in messages)
        assert await _read(peer, len(expected), timeout=30) == expected
        peer.close()

    run(main(), timeout=60)


def test_waiter_resolved_like_any_future_wakes_its_task(kind):
    """Code that treats recv()'s waiter as the asyncio.Future it is (set_result, cancel) still
    wakes the waiting task, on the next loop pass."""
    from wsfast.asyncio._waiter import Waiter

    async def main():
        loop = asyncio.get_running_loop()
        for resolve in ("set_result", "resume_soon", "cancel", "set_exception"):
            waiter = Waiter(loop=loop)
            task = asyncio.create_task(asyncio.wait_for(waiter, 5))
            await asyncio.sleep(0)
            if resolve == "set_result":
                waiter.set_result(7)
            elif resolve == "set_exception":
                waiter.set_exception(KeyError("k"))
            else:
                getattr(waiter, resolve)()
            outcome = await asyncio.gather(task, return_exceptions=True)
            assert {"set_result": [7], "resume_soon": [None]}.get(resolve, outcome) == outcome
            if resolve == "cancel":
                assert isinstance(outcome[0], asyncio.CancelledError)
            if resolve == "set_exception":
                assert isinstance(outcome[0], KeyError)

    run(main())
