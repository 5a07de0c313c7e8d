"""wsfast.patch.wsproto() against wsproto itself: the same bytes, received in the same reads and
iterated the same way by a patched and an unpatched FrameProtocol, give the same Frame tuples
(split at the same places, text decoded the same way) and the same ParseFailed (message and close
code), for valid streams and broken ones; protocols made while patched keep working after
unpatch(); and a patched wsproto server talks to a websockets client over loopback.
"""

from __future__ import annotations

import importlib
import random
import socket
import struct
import threading
from typing import Any, List, Optional

import pytest

import wsfast.patch
from wsfast.patch import _core

fp = pytest.importorskip("wsproto.frame_protocol")


@pytest.fixture(autouse=True)
def _tested_version():
    version = _core.installed_version("wsproto")
    if version not in wsfast.patch.TESTED["wsproto"]:
        pytest.skip(f"wsproto {version} is not a tested version")
    try:
        importlib.import_module("wsfast._stream_c")
    except ImportError:
        pytest.skip("the compiled hot path is not built")
    wsfast.patch.unpatch()
    yield
    wsfast.patch.unpatch()


def frame(op: int, payload: bytes = b"", *, fin: bool = True, rsv: int = 0, key: Optional[bytes] = b"abcd",
          form: Optional[int] = None, length: Optional[int] = None) -> bytes:
    n = len(payload) if length is None else length
    head = bytes([(0x80 if fin else 0) | rsv | op])
    mb = 0x80 if key is not None else 0
    form = form or (7 if n < 126 else 16 if n < 65536 else 64)
    if form == 7:
        head += bytes([mb | n])
    elif form == 16:
        head += bytes([mb | 126]) + struct.pack("!H", n)
    else:
        head += bytes([mb | 127]) + struct.pack("!Q", n)
    if key is None:
        return head + payload
    return head + key + bytes(b ^ key[i & 3] for i, b in enumerate(payload))


def run(reads: List[List[bytes]], client: bool, stop_after: Optional[int] = None) -> List[Any]:
    """Feed each group of reads, then iterate received_frames() (at most `stop_after` frames a time)."""
    proto = fp.FrameProtocol(client=client, extensions=[])
    record: List[Any] = []
    for group in reads:
        for data in group:
            proto.receive_bytes(data)
        try:
            got = []
            for f in proto.received_frames():
                got.append(tuple(f))
                if stop_after is not None and len(got) >= stop_after:
                    break
            record.append(got)
        except fp.ParseFailed as exc:
            record.append(("ParseFailed", str(exc), exc.code))
    return record


def both(reads: List[List[bytes]], client: bool = False, stop_after: Optional[int] = None) -> None:
    unpatched = run(reads, client, stop_after)
    assert wsfast.patch.wsproto() is not None
    try:
        patched = run(reads, client, stop_after)
    finally:
        wsfast.patch.unpatch()
    assert patched == unpatched


def random_stream(rng: random.Random, masked: bool) -> bytes:
    key = (lambda: rng.randbytes(4)) if masked else (lambda: None)
    text = "aé€😀 z"
    parts = []
    for _ in range(rng.randrange(1, 12)):
        kind = rng.random()
        if kind < 0.15:
            parts.append(frame(rng.choice([9, 10]), rng.randbytes(rng.randrange(30)), key=key()))
        elif kind < 0.4:
            op = rng.choice([1, 2])
            body = "".join(rng.choice(text) for _ in range(rng.randrange(200))).encode() if op == 1 \
                else rng.randbytes(rng.randrange(300))
            cuts = sorted(rng.sample(range(len(body) + 1), rng.randrange(0, 3)))
            pieces = [body[a:b] for a, b in zip([0] + cuts, cuts + [len(body)])]
            for i, piece in enumerate(pieces):
                parts.append(frame(op if i == 0 else 0, piece, fin=i == len(pieces) - 1, key=key()))
                if rng.random() < 0.3:
                    parts.append(frame(9, b"mid", key=key()))
        elif kind < 0.55:
            parts.append(frame(1, "".join(rng.choice(text) for _ in range(rng.randrange(5000))).encode(),
                               key=key()))
        else:
            parts.append(frame(rng.choice([1, 2]) if rng.random() < 0.2 else 2,
                               rng.randbytes(rng.choice([0, 1, 16, 125, 126, 1000, 70000])), key=key()))
    if rng.random() < 0.5:
        close = struct.pack("!H", rng.choice([1000, 1001, 4000])) + "bye é".encode()
        parts.append(frame(8, close, key=key()))
        parts.append(frame(1, b"after close", key=key()))
    return b"".join(parts)


def reads_of(rng: random.Random, data: bytes) -> List[List[bytes]]:
    cuts = sorted(rng.sample(range(1, max(2, len(data))), min(max(len(data) - 1, 0), rng.randrange(0, 8))))
    chunks = [data[a:b] for a, b in zip([0] + cuts, cuts + [len(data)])]
    groups: List[List[bytes]] = []
    for chunk in chunks:  # sometimes several reads before the frames are looked at
        if groups and rng.random() < 0.3:
            groups[-1].append(chunk)
        else:
            groups.append([chunk])
    return groups + [[]]


@pytest.mark.parametrize("seed", range(80))
def test_random_streams_give_what_wsproto_gives(seed):
    rng = random.Random(seed)
    client = rng.random() < 0.3
    data = random_stream(rng, masked=not client)
    if rng.random() < 0.5:
        mutated = bytearray(data)
        for _ in range(rng.randrange(1, 4)):
            mutated[rng.randrange(len(mutated))] = rng.randrange(256)
        data = bytes(mutated)
    both(reads_of(rng, data), client=client, stop_after=rng.choice([None, None, 1, 3]))


BROKEN = {
    "reserved opcode": frame(3, b"x"),
    "reserved control opcode": frame(11, b""),
    "fragmented control": frame(9, b"p", fin=False),
    "long control": frame(9, b"p" * 126),
    "rsv bit": frame(1, b"x", rsv=0x40),
    "rsv on control": frame(9, b"p", rsv=0x20),
    "stray continuation": frame(0, b"x"),
    "data inside a message": frame(1, b"a", fin=False) + frame(2, b"b"),
    "text inside a message, split": frame(1, "é".encode()[:1], fin=False) + frame(1, b"b"),
    "unmasked from a client": frame(1, b"x", key=None),
    "16-bit length not minimal": frame(1, b"abc", form=16),
    "64-bit length not minimal": frame(2, b"abc", form=64),
    "64-bit top bit": frame(2, b"", length=1 << 63)[:10],
    "invalid utf-8": frame(1, b"ok \xff"),
    "invalid utf-8 across frames": frame(1, b"\xe2\x82", fin=False) + frame(0, b"\x28"),
    "truncated utf-8": frame(1, b"\xe2\x82"),
    "close 1005": frame(8, struct.pack("!H", 1005)),
    "close 999": frame(8, struct.pack("!H", 999)),
    "close 1-byte": frame(8, b"\x03"),
    "close bad utf-8": frame(8, struct.pack("!H", 1000) + b"\xff"),
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_broken_streams_fail_as_wsproto_fails(name):
    data = frame(1, b"first") + BROKEN[name] + frame(1, b"never")
    for cut in (None, 1, 7, 9, 13):
        reads = [[data]] if cut is None else [[data[:cut]], [data[cut:]]]
        both(reads + [[]])


def test_protocols_made_while_patched_keep_working_after_unpatch():
    wsfast.patch.wsproto()
    proto = fp.FrameProtocol(client=False, extensions=[])
    proto.receive_bytes(frame(1, b"one"))
    assert [tuple(f) for f in proto.received_frames()] == [(fp.Opcode.TEXT, "one", True, True)]
    wsfast.patch.unpatch()
    proto.receive_bytes(frame(2, b"two"))
    assert [tuple(f) for f in proto.received_frames()] == [(fp.Opcode.BINARY, b"two", True, True)]


def test_with_an_extension_wsprotos_own_path_is_kept():
    from wsproto.extensions import PerMessageDeflate

    wsfast.patch.wsproto()
    ext = PerMessageDeflate()
    ext._enabled = True
    proto = fp.FrameProtocol(client=False, extensions=[ext])
    assert isinstance(proto._frame_decoder, fp.FrameDecoder)


def test_wsproto_server_patched_with_a_websockets_client_over_loopback():
    from websockets.sync.client import connect
    from wsproto import ConnectionType, WSConnection
    from wsproto.events import AcceptConnection, CloseConnection, Message, Ping, Request

    assert wsfast.patch.wsproto() is not None
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    errors: List[BaseException] = []

    def serve() -> None:
        try:
            conn, _ = listener.accept()
            ws = WSConnection(ConnectionType.SERVER)
            parts: List[Any] = []
            while True:
                data = conn.recv(65536)
                if not data:
                    return
                ws.receive_data(data)
                for event in ws.events():
                    if isinstance(event, Request):
                        conn.sendall(ws.send(AcceptConnection()))
                    elif isinstance(event, Message):
                        parts.append(event.data)
                        if event.message_finished:
                            whole = "".join(parts) if isinstance(parts[0], str) else b"".join(parts)
                            parts = []
                            conn.sendall(ws.send(Message(data=whole)))
                    elif isinstance(event, Ping):
                        conn.sendall(ws.send(event.response()))
                    elif isinstance(event, CloseConnection):
                        conn.sendall(ws.send(event.response()))
                        conn.close()
                        return
        except BaseException as exc:  # reported by the test
            errors.append(exc)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    rng = random.Random(9)
    with connect(f"ws://127.0.0.1:{port}", compression=None, max_size=2**22) as ws:
        for n in (0, 1, 125, 126, 65536, 1 << 20):
            data = rng.randbytes(n)
            ws.send(data)
            assert ws.recv(timeout=30) == data
            text = "é€😀" * (n // 8)
            ws.send(text)
            assert ws.recv(timeout=30) == text
        ws.send([b"frag", b"ments"])
        assert ws.recv(timeout=30) == b"fragments"
        ws.ping(b"x").wait(timeout=30)
    thread.join(30)
    listener.close()
    assert not errors
