"""A raw-socket WebSocket client for the server benchmarks: it costs the server's machine
almost nothing, so the server bounds the rate and its own CPU time is what is measured.

No event loop and no parser on this side: frames are built once (masked, as a
client must send them) and written in large writes, and echoes are counted by
their known size (every server sends the minimal header, as RFC 6455 requires).
``read_frame`` parses one header, for the few places where the size is not
known in advance (a server that compresses its echo).
"""

from __future__ import annotations

import socket
import threading
from typing import List, Optional, Tuple

from wsfast._frames_py import encode_frame
from wsfast.handshake import ClientHandshake

__all__ = ["open_socket", "client_frames", "server_frames", "saturate", "ping_pong", "read_frame"]

WRITE_SIZE = 256 * 1024  # one write of a saturating client
_RECV_SIZE = 1024 * 1024
BINARY = 2


def open_socket(port: int, websocket: bool = True, deflate: bool = False, timeout: float = 30.0,
                response: Optional[List[bytes]] = None) -> socket.socket:
    """A connected TCP socket to 127.0.0.1:port, past the opening handshake if ``websocket``
    (offering permessage-deflate if ``deflate``, as Chromium does); TCP_NODELAY set, blocking
    with ``timeout``. ``response``: a list the server's response head is appended to."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if not websocket:
        return sock
    extra = {"Sec-WebSocket-Extensions": "permessage-deflate; client_max_window_bits"} if deflate else None
    handshake = ClientHandshake(f"ws://127.0.0.1:{port}/", extra_headers=extra)
    sock.sendall(handshake.request.serialize())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("the server closed the connection during the handshake")
        head += chunk
    status = head.split(b"\r\n", 1)[0]
    if b" 101 " not in status + b" ":
        sock.close()
        raise ConnectionError(f"handshake refused: {status!r}")
    if not head.endswith(b"\r\n\r\n"):
        sock.close()
        raise ConnectionError("the server sent data before the client's first message")
    if response is not None:
        response.append(head)
    return sock


def client_frames(payload: bytes, count: int) -> bytes:
    """``count`` binary messages of ``payload``, masked, back to back."""
    return encode_frame(BINARY, payload, mask=True) * count


def server_frames(payload: bytes, count: int) -> bytes:
    """What an echo of ``client_frames(payload, count)`` looks like on the wire (uncompressed)."""
    return encode_frame(BINARY, payload) * count


def _send_all(sock: socket.socket, data: bytes, errors: List[BaseException]) -> None:
    view = memoryview(data)
    try:
        for i in range(0, len(view), WRITE_SIZE):
            sock.sendall(view[i:i + WRITE_SIZE])
    except BaseException as exc:  # reported by the reader
        errors.append(exc)


def saturate(sock: socket.socket, stream: bytes, expect: int, keep: bool = False) -> Optional[bytes]:
    """Write ``stream`` in WRITE_SIZE writes (a thread) while reading ``expect`` bytes of echo;
    returns what was read if ``keep``. Writing and reading at once keeps both directions
    busy and can never deadlock on full socket buffers."""
    errors: List[BaseException] = []
    writer = threading.Thread(target=_send_all, args=(sock, stream, errors), daemon=True)
    writer.start()
    buf = bytearray(_RECV_SIZE)
    kept = bytearray() if keep else None
    got = 0
    try:
        while got < expect:
            n = sock.recv_into(buf)
            if n == 0:
                raise ConnectionError(f"the server closed the connection after {got} of {expect} bytes")
            if kept is not None:
                kept += buf[:n]
            got += n
    finally:
        writer.join()
    if errors:
        raise errors[0]
    if got != expect:
        raise AssertionError(f"read {got} bytes, expected {expect}")
    return bytes(kept) if kept is not None else None


def ping_pong(sock: socket.socket, frame: bytes, echo_size: int, count: int) -> None:
    """One message in flight: send ``frame``, read its ``echo_size``-byte echo, ``count`` times."""
    buf = bytearray(max(echo_size, 4096))
    view = memoryview(buf)
    send, recv_into = sock.sendall, sock.recv_into
    for _ in range(count):
        send(frame)
        got = 0
        while got < echo_size:
            n = recv_into(view[got:])
            if n == 0:
                raise ConnectionError("the server closed the connection")
            got += n
        if got != echo_size:
            raise AssertionError(f"echo of {got} bytes, expected {echo_size}")


def _read_exactly(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("the server closed the connection")
        data += chunk
    return data


def read_frame(sock: socket.socket) -> Tuple[int, bytes]:
    """One unmasked frame from the server: (first header byte, payload)."""
    b0, b1 = _read_exactly(sock, 2)
    length = b1 & 0x7F
    if length == 126:
        length = int.from_bytes(_read_exactly(sock, 2), "big")
    elif length == 127:
        length = int.from_bytes(_read_exactly(sock, 8), "big")
    return b0, _read_exactly(sock, length)
