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

A client connection masks every frame with a fresh key, so it cannot share a
frame: broadcasting to client connections sends each its own.
"""

from __future__ import annotations

import logging
from typing import Any, Iterable, List, Optional, Union

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
    if not isinstance(message, str):
        message = as_bytes(message, "broadcast() message", "str or a bytes-like object")
    direct: List[Any] = []  # transports the shared frame goes to as it is
    others: List[Connection] = []  # everyone else: queued output, clients, or skipped
    for conn in connections:
        if conn.protocol.writes_encoded_now() and not conn._writing_paused:
            direct.append(conn.transport)
        else:
            others.append(conn)
    shared: Optional[bytes] = None  # encoded on first use: nothing to do for an empty audience
    sent = 0
    if direct:
        shared = encode_shared(message)
        for transport in direct:
            if not transport.is_closing():  # a failed write: connection_lost is on its way
                transport.write(shared)
                sent += 1
    skipped = len(direct) - sent
    for conn in others:
        protocol = conn.protocol
        transport = conn.transport
        if (protocol.state is not _OPEN or protocol.failure_held or transport is None
                or transport.is_closing() or conn._writing_paused):
            skipped += 1
            continue
        try:
            if protocol.is_client:
                protocol.send(message)
            else:
                if shared is None:
                    shared = encode_shared(message)
                protocol.send_encoded(shared)  # behind what is queued: the order is kept
        except WebSocketError:  # e.g. in the middle of a fragmented send: this one waits for next time
            skipped += 1
            continue
        conn._flush()
        sent += 1
    if skipped:
        logger.debug("broadcast skipped %d connections (not open, busy or slow)", skipped)
    return sent
