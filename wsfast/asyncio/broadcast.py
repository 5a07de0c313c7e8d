"""``broadcast()``: one message to many connections, encoded once.

Like websockets' ``broadcast()``, it is synchronous and never waits: a slow
client must not stall the others, so a connection that cannot take the
message now is skipped rather than waited for. Skipped: connections that are
not open (closing, closed, still in the handshake, failing), connections in
the middle of sending a fragmented message, and connections whose transport
write buffer went over their ``write_limit`` high-water mark (until it drains
below the low-water mark) — a client that does not read loses broadcast
messages instead of growing our memory. Everything else gets the same frame
(the same bytes object: servers send unmasked frames), written at once.

Why it is shaped as two passes: with thousands of connections, what a
broadcast costs beyond one ``send`` system call per connection is mostly
memory traffic — every connection's objects are cold again after the
kernel's work for the previous one. So the first pass only asks each
connection's protocol whether the shared frame can go out as it is
(:meth:`~wsfast.protocol.Protocol.writes_encoded_now`: open, nothing queued
ahead of it) and collects the transports; the second pass is the floor,
one ``transport.write(frame)`` each. Connections with output queued ahead
keep their order through the protocol's queue.

With permessage-deflate, a message is compressed once for every group of
connections whose compressor keeps no context between messages (no context
takeover on our side, e.g. ``DeflateOptions(server_no_context_takeover=True)``)
and has the same window, memLevel and level: they all take the same
compressed frame. A connection whose compressor keeps context must compress
the message itself (its peer's window depends on every message it was sent),
and messages under ``min_size`` share the plain frame. A client connection
masks every frame with a fresh key, so it cannot share a frame either: each
gets its own (:meth:`~wsfast.protocol.Protocol.shared_key` says which way).
"""

from __future__ import annotations

import logging
from typing import Any, Dict, Iterable, List, Optional, Tuple, Union

from .._twin_helpers import as_bytes
from ..exceptions import WebSocketError
from ..protocol import State, encode_shared
from .connection import Connection

__all__ = ["broadcast"]

logger = logging.getLogger("wsfast.asyncio.broadcast")

_OPEN = State.OPEN


def broadcast(connections: Iterable[Connection], message: Union[str, bytes]) -> int:
    """Send ``message`` (str: text, bytes-like: binary) to every connection that can take it now.

    Returns how many connections it was written to; the others were skipped
    (see the module docstring). TypeError for anything but str or bytes-like.
    """
    if isinstance(message, str):
        size = len(message) if message.isascii() else len(message.encode("utf-8"))
    else:
        message = as_bytes(message, "broadcast() message", "str or a bytes-like object")
        size = len(message)
    # transports each shared frame goes to as it is, by shared key: () for the plain frame, or
    # the compression settings of connections that keep no compression context (with the
    # settings of the first such connection, which encode that frame)
    direct: Dict[Tuple[int, ...], Tuple[Any, List[Any]]] = {}
    others: List[Connection] = []  # everyone else: queued output, own compressors, clients, skipped
    last_key: Optional[Tuple[int, ...]] = None
    last_group: List[Any] = []
    add = last_group.append
    last_type: Any = None
    key_of: Any = None
    for conn in connections:
        protocol = conn.protocol
        if type(protocol) is not last_type:  # the method from the class, not a bound method: a
            last_type = type(protocol)  # bound method's lookup reads the instance's dict, cold here
            key_of = last_type.broadcast_key
        if not conn._writing_paused:
            key = key_of(protocol, size)
            if key is not None:
                if key != last_key:  # usually every connection has the same key: one lookup
                    entry = direct.get(key)
                    if entry is None:
                        entry = direct[key] = (protocol.deflate if key else None, [])
                    last_key, last_group = key, entry[1]
                    add = last_group.append
                add(conn.transport)
                continue
        others.append(conn)
    shared: Dict[Tuple[int, ...], bytes] = {}  # each encoded on first use
    sent = skipped = 0
    for key, (deflate, transports) in direct.items():
        frame = shared[key] = encode_shared(message, deflate)
        for transport in transports:
            if transport.is_closing():  # a failed write: connection_lost is on its way
                skipped += 1
                continue
            transport.write(frame)
            sent += 1
    for conn in others:
        protocol = conn.protocol
        transport = conn.transport
        if (protocol.state is not _OPEN or protocol.failure_held or transport is None
                or transport.is_closing() or conn._writing_paused):
            skipped += 1
            continue
        try:
            key = protocol.shared_key(size)
            if key is None:
                protocol.send(message)  # a client, or a compressor that keeps context
            else:
                queued = shared.get(key)
                if queued is None:
                    queued = shared[key] = encode_shared(message, protocol.deflate if key else None)
                protocol.send_encoded(queued)  # behind what is queued: the order is kept
        except WebSocketError:  # e.g. in the middle of a fragmented send: this one waits for next time
            skipped += 1
            continue
        conn._flush()
        sent += 1
    if skipped:
        logger.debug("broadcast skipped %d connections (not open, busy or slow)", skipped)
    return sent
