"""The data path's twins (wsfast._datapath_c / _datapath_py) on real protocols, side by side.

``DataPath(protocol)``'s ``receive`` / ``send_text`` / ``send_binary`` /
``data_to_send``: the pure twin calls the protocol's own methods (the
reference), the compiled one runs an open connection's common case in C and
hands the rest to those methods. Here two identical worlds — our protocol and a
peer, opened by a real handshake — run the same random script, one through each
twin, and must agree on every event, every byte we send (decoded, since a
client masks with fresh keys), every error and the state after each step:
states (connecting, open, closing, failed with the close held back, closed,
after EOF), both sides, with and without permessage-deflate, fragments in both
directions, control frames between fragments, payloads across the 4096-byte
framing limit, str subclasses and bytes-like objects, lone surrogates, and
protocol violations.
"""

from __future__ import annotations

import random
from typing import Any, List, Tuple

import pytest
from conftest import load_impl

from wsfast.extensions.permessage_deflate import server_extensions
from wsfast.handshake import ServerHandshake
from wsfast.protocol import ClientProtocol, ConnectionFailed, ServerProtocol


class _Str(str):
    pass


def _summary(event: Any) -> Tuple[Any, ...]:
    if isinstance(event, ConnectionFailed):
        return ("failed", event.code, event.reason, event.cause)
    data = getattr(event, "data", None)
    if isinstance(data, (bytes, bytearray, memoryview)):
        data = bytes(data)
    return (type(event).__name__, data, getattr(event, "code", None), getattr(event, "reason", None))


def _error(exc: BaseException) -> Tuple[str, str]:
    return (type(exc).__name__, str(exc))


class World:
    """Our protocol ``me`` (server or client) and its peer, opened; ``dp`` is the twin under test."""

    def __init__(self, dp: Any, impl: Any, side: str, deflate: bool, hold: bool) -> None:
        self.dp = dp
        extensions = server_extensions("deflate" if deflate else None)
        server = ServerProtocol(handshake=ServerHandshake(extensions=extensions), impl=impl,
                                hold_failure=hold, max_message_size=64 * 1024)
        client = ClientProtocol("ws://h/", impl=impl, compression="deflate" if deflate else None,
                                max_message_size=64 * 1024) if deflate else ClientProtocol(
                                    "ws://h/", impl=impl, max_message_size=64 * 1024)
        server.receive_data(client.bytes_to_send())
        request = server.events()[0]
        server.send_response(server.accept(request))
        client.receive_data(server.bytes_to_send())
        client.events()
        self.me, self.peer = (server, client) if side == "server" else (client, server)
        self.datapath = dp.DataPath(self.me)
        self.decoder = ServerProtocol(impl=impl) if side == "client" else None

    def wire_of_me(self, pieces: List[bytes]) -> Any:
        """What we sent: a server's bytes; a client's as the peer's events (a client masks its
        frames with fresh keys)."""
        data = b"".join(pieces)
        if isinstance(self.me, ServerProtocol):
            return data  # a server's frames are not masked: the bytes themselves
        try:
            return [_summary(e) for e in self.peer.receive(data)]
        except Exception as exc:  # the peer already closed: compare the bytes' length only
            return ("peer refused", _error(exc), len(data))


def _step(world: World, rng: random.Random, log: List[Any]) -> None:
    me, peer, dp = world.me, world.peer, world.datapath
    op = rng.choice(["peer_data", "peer_data", "peer_data", "peer_control", "peer_fragments", "raw",
                     "send", "send", "send", "send_fragment", "close", "flush", "eof", "split_read"])
    log.append(op)
    if op in ("peer_data", "peer_control", "peer_fragments", "raw", "split_read"):
        try:  # the peer may be closed already: then it sends nothing
            if op == "peer_data":
                size = rng.choice([0, 1, 125, 126, 4095, 4096, 4097, 20000])
                if rng.random() < 0.5:
                    peer.send_text("é" * (size // 2))
                else:
                    unit = bytes(rng.randrange(256) for _ in range(min(size, 64)))
                    peer.send_binary(unit * (size // 64 + 1))
            elif op == "peer_control":
                rng.choice([lambda: peer.ping(b"p%d" % rng.randrange(100)), lambda: peer.pong(b"q"),
                            lambda: peer.close(rng.choice([1000, 1001, 3000, None]), "bye")])()
            elif op == "peer_fragments":
                peer.send_text("ab", fin=False)
                peer.ping(b"between")
                peer.send_continuation("cd", fin=True)
            elif op == "split_read":
                for _ in range(3):
                    peer.send_binary(b"x" * rng.randrange(300))
        except Exception as exc:
            log.append(("peer",) + _error(exc))
        try:
            wire = peer.bytes_to_send()
        except Exception as exc:
            log.append(_error(exc))
            wire = b""
        if op == "raw":
            # a violation the peer's own protocol would not send: reserved opcode, bad UTF-8,
            # a frame over the size limit (or, to a client, a masked frame)
            wire = rng.choice([b"\x83\x80\x00\x00\x00\x00", b"\x81\x82\x00\x00\x00\x00\xff\xfe",
                               b"\x82\xff" + (1 << 20).to_bytes(8, "big") + b"\x00" * 4,
                               b"\x80\x80\x00\x00\x00\x00"])
        cuts = sorted(rng.sample(range(len(wire) + 1), min(3, len(wire) + 1)))
        for a, b in zip([0] + cuts, cuts + [len(wire)]):
            view = memoryview(bytearray(wire))[a:b]
            try:
                log.append([_summary(e) for e in dp.receive(view)])
            except Exception as exc:
                log.append(_error(exc))
    elif op == "send":
        size = rng.choice([0, 1, 125, 4095, 4096, 4097, 70000])
        data = rng.choice([
            "t" * size, _Str("s" * size), "\ud800", b"b" * size, bytearray(b"a" * size),
            memoryview(b"m" * size), 12345, "€" * (size // 3)])
        send = dp.send_text if isinstance(data, str) or rng.random() < 0.1 else dp.send_binary
        try:
            send(data)
            log.append(("sent", type(data).__name__, len(data) if hasattr(data, "__len__") else None))
        except Exception as exc:
            log.append(_error(exc))
    elif op == "send_fragment":
        try:
            if me._fragmenting:
                me.send_continuation("end", fin=rng.random() < 0.7)
            else:
                me.send_text("start", fin=False)
            log.append("fragment sent")
        except Exception as exc:
            log.append(_error(exc))
    elif op == "close":
        try:
            me.close(rng.choice([1000, 1011, None]), "done")
        except Exception as exc:
            log.append(_error(exc))
    elif op == "eof" and rng.random() < 0.2:
        me.receive_eof()
    log.append(world.wire_of_me(dp.data_to_send()))
    log.append([_summary(e) for e in me.events()])
    log.append((me.state, me.close_code, me.close_reason, me.failure_held,
                None if me.failure is None else _summary(me.failure)))
    if rng.random() < 0.1 and me.failure_held:
        me.release_failure()


@pytest.mark.parametrize("side", ["server", "client"])
@pytest.mark.parametrize("deflate", [False, True], ids=["plain", "deflate"])
@pytest.mark.parametrize("hold", [False, True], ids=["fail-now", "hold-failure"])
@pytest.mark.parametrize("parser", ["c", "python"])
def test_twins_agree_on_random_scripts(side, deflate, hold, parser):
    impl = load_impl(parser)
    compiled, pure = load_impl("c"), load_impl("python")
    for seed in range(60):
        logs = []
        for dp in (compiled, pure):
            rng = random.Random(seed)
            world = World(dp, impl, side, deflate, hold)
            log: List[Any] = []
            for _ in range(25):
                _step(world, rng, log)
            logs.append(log)
        assert logs[0] == logs[1], f"seed {seed}"


def test_the_scripts_reach_every_path():
    """The random scripts are worth comparing: across the seeds they reach the compiled fast
    paths and every fallback (closing, failures, compression, fragments, errors)."""
    impl = load_impl("c")
    seen = set()
    for side in ("server", "client"):
        for deflate in (False, True):
            for seed in range(60):
                rng = random.Random(seed)
                world = World(load_impl("c"), impl, side, deflate, True)
                log: List[Any] = []
                for _ in range(25):
                    _step(world, rng, log)
                for entry in log:
                    if isinstance(entry, tuple) and entry and isinstance(entry[0], str):
                        seen.add(entry[0] if entry[0] != "sent" else f"sent {entry[1]}")
                    if isinstance(entry, tuple) and len(entry) == 5 and entry[4] is not None:
                        seen.add(f"failure {entry[4][1]}")
    expected = {"sent str", "sent _Str", "sent bytes", "sent bytearray", "sent memoryview", "TypeError",
                "UnicodeEncodeError", "InvalidState", "ConnectionClosedOK", "ConnectionClosedError",
                "failure 1002", "failure 1007", "failure 1009"}
    assert expected <= seen, expected - seen


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 4095, 4096])
@pytest.mark.parametrize("kind", ["text", "binary"])
def test_compiled_frames_are_the_encoders_bytes(size, kind):
    """The compiled fast path frames a small message itself: byte for byte what the protocol's
    encoder makes."""
    compiled, pure = load_impl("c"), load_impl("python")
    outs = []
    for dp in (compiled, pure):
        world = World(dp, compiled, "server", False, False)
        if kind == "text":
            data: Any = "é" * (size // 2) + "x" * (size % 2)
        else:
            data = bytes(range(256)) * (size // 256) + b"z" * (size % 256)
        (world.datapath.send_text if kind == "text" else world.datapath.send_binary)(data)
        outs.append(b"".join(world.datapath.data_to_send()))
    assert outs[0] == outs[1]
    assert len(outs[0]) == size + (2 if size < 126 else 4)


@pytest.mark.parametrize("parser", ["c", "python"])
def test_sort_events_twins_agree(parser):
    """The asyncio connection's batch sorting: the same (handed, queue, others) from both twins
    for random batches of text (str, or bytes kept as UTF-8), binary and other events."""
    import collections

    impl = load_impl(parser)
    text_cls, binary_cls = impl.TextMessage, impl.BinaryMessage
    compiled, pure = load_impl("c"), load_impl("python")
    world = World(compiled, impl, "server", False, False)
    pieces = [
        lambda rng: world.peer.send_binary(b"b%d" % rng.randrange(99)),
        lambda rng: world.peer.send_text(f"t{rng.randrange(99)}"),
        lambda rng: world.peer.ping(b"p%d" % rng.randrange(10**6)),
        lambda rng: world.peer.pong(b"q"),
    ]
    for seed in range(200):
        rng = random.Random(seed)
        world.me.decode_text = rng.random() < 0.7
        for _ in range(rng.randrange(6)):
            rng.choice(pieces)(rng)
        events = world.me.receive(world.peer.bytes_to_send())
        world.me.data_to_send()  # our pongs
        if rng.random() < 0.2:
            events.append(ConnectionFailed(1002, "test", None))  # type: ignore[arg-type]
        queued = rng.choice([None, ["old"]])
        hand_over = rng.random() < 0.5
        results = []
        for dp in (compiled, pure):
            messages = None if queued is None else collections.deque(queued)
            handed, queue, others = dp.sort_events(list(events), messages, text_cls, binary_cls, hand_over)
            results.append((handed, None if queue is None else list(queue), others,
                            queue is messages if messages is not None else None))
        assert results[0] == results[1], seed
        handed, queue, others, same = results[1]
        data = [e if type(e) is text_cls and type(e.data) is not str else e.data
                for e in events if type(e) in (text_cls, binary_cls)]
        assert ([handed] if hand_over and data else []) + (queue or [])[len(queued or []):] == data
        assert others == ([e for e in events if type(e) not in (text_cls, binary_cls)] or None)
