"""Callbacks instead of a handler coroutine: ``serve(MyListener, host, port)``.

::

    class Echo(Listener):
        def on_message(self, ws, message):
            ws.send_now(message)

    async with serve(Echo, "127.0.0.1", 8765) as server:
        await server.serve_forever()

Why a second way to write a server: a handler coroutine waits for each message
and so pays a task wake-up per message (a few microseconds of Python), which
is most of what a server that answers one message at a time (chat, games,
RPC) spends per message. A listener's ``on_message`` is called inside the
read callback, as a plain :class:`asyncio.Protocol` answers inside
``data_received``, and ``ws.send_now()`` queues the answer without a
coroutine: everything it sends while the read is handled goes out in one write
at the end of it. This is the shape of picows' ``WSListener`` and tornado's
``WebSocketHandler``.

What stays the same as with a handler: the protocol (handshake, ping/pong,
closing, failing, permessage-deflate) and every option of ``serve()``. What
differs:

- No message queue: ``max_queue`` does not apply; a message is delivered as
  soon as it is complete. A slow ``on_message`` holds up this connection's
  reading (and the event loop) while it runs: hand long work to a task.
- Flow control: reading pauses while the transport's write buffer is over the
  high-water mark (``write_limit``), so a listener that answers what it reads
  cannot be made to buffer without bound by a peer that does not read. A
  listener that sends on its own (from a timer, a task) should use
  ``await ws.send()``, which waits for the peer to drain.
- An exception in a callback is logged and closes the connection with 1011.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Union

if TYPE_CHECKING:
    from .connection import Connection

__all__ = ["Listener"]


class Listener:
    """Subclass this and pass the class to ``serve()``: one instance per connection.

    Every callback runs on the event loop, inside the callback that read the
    data (so no other connection runs meanwhile). ``ws`` is the
    :class:`~wsfast.asyncio.ServerConnection`: ``send_now()``, ``send()``,
    ``ping()``, ``close()``/``start_close()``, ``request``, ``close_code``...
    """

    def on_open(self, ws: Connection) -> None:
        """The opening handshake is complete; messages may come from now on."""

    def on_message(self, ws: Connection, message: Union[str, bytes]) -> None:
        """A complete message: str for text, bytes for binary."""

    def on_close(self, ws: Connection) -> None:
        """The TCP connection is closed (``ws.close_code`` / ``ws.close_reason`` say how).
        Called once, and only if ``on_open`` was."""
