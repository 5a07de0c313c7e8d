"""Fan-out of messages to WebSocket connections, in this process or across processes through Redis.

::

    from wsfast.pubsub import Hub

    hub = Hub("redis://127.0.0.1:6379/0")    # Hub(): this process only

    async def chat(ws):
        async with hub.subscribe(ws, "room"):   # ws gets every message published to "room", anywhere
            async for message in ws:
                await hub.publish("room", message)

Delivery. Each process holds one Redis subscription per channel that has a
local subscriber, whatever the number of local subscribers; a message that
arrives is written to every local subscriber at once with
:func:`wsfast.asyncio.broadcast` (encoded once, never waiting). A subscriber
that cannot take it now (closing, or with more unsent data than its
connection's ``write_limit``) is skipped for that message (counted in
``Hub.skipped``): a slow client loses messages rather than slowing the
channel or growing memory. With Redis, a process's own publications also go
through Redis, so every subscriber in every process sees one order per
channel; messages from one publisher arrive in the order it published them.

Guarantees. Redis pub/sub is at-most-once: a message published while a process
is disconnected from Redis never reaches that process's subscribers. When the
connection is lost the hub logs it, reconnects by itself (with a growing
delay, up to two seconds) and subscribes again to every channel that still
has subscribers, and logs the length of the gap. ``publish()`` raises
:class:`HubUnavailable` while Redis cannot be reached (nothing is queued);
so does the first ``subscribe()`` / ``publish()`` / :meth:`Hub.start` when
Redis is down at start. A ``subscribe()`` made during an outage returns at
once; its subscription starts when Redis is back.

Messages on the Redis channel. Text travels as its UTF-8 bytes, unchanged,
so any Redis client can read it and publish to wsfast subscribers. Binary
messages are prefixed with the 4 bytes ``BINARY_MARK`` (``FF 57 53 42``,
"\\xffWSB"); 0xFF never occurs in UTF-8, so no text is ever taken for binary.
On receipt: a payload that starts with the mark is binary (the mark is
removed); otherwise valid UTF-8 is delivered as text and anything else as
binary, as is. (A foreign binary payload that happens to start with the four
mark bytes loses them.)

Redis support needs the ``redis`` package (``pip install wsfast[redis]``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any, Dict, Iterable, List, Optional, Tuple, Type, Union

from ._twin_helpers import as_bytes
from .asyncio.broadcast import broadcast
from .exceptions import HubUnavailable

__all__ = ["Hub", "HubUnavailable", "Subscription", "BINARY_MARK", "encode_payload", "decode_payload"]

Data = Union[str, bytes]

BINARY_MARK = b"\xffWSB"
_RECONNECT_FIRST = 0.05
_RECONNECT_CAP = 2.0

logger = logging.getLogger("wsfast.pubsub")


def _link_errors() -> Tuple[Type[BaseException], ...]:
    """What a lost or refused Redis connection raises (redis is imported only when used)."""
    import redis.exceptions

    return (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError)


def encode_payload(message: Any) -> bytes:
    """A message as it travels on the Redis channel: text as UTF-8, binary behind BINARY_MARK."""
    if isinstance(message, str):
        return message.encode("utf-8")
    return BINARY_MARK + as_bytes(message, "a message", "str or bytes-like")


def decode_payload(payload: bytes) -> Data:
    """What a payload on the Redis channel is delivered as (see the module docstring)."""
    if payload[:4] == BINARY_MARK:
        return payload[4:]
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError:
        return payload


def _deliver(connections: List[Any], message: Data) -> Tuple[int, int]:
    """Write ``message`` to every connection that can take it now: (delivered, skipped)."""
    sent = broadcast(connections, message)
    return sent, len(connections) - sent


class _Channel:
    """The local subscribers of one channel (connection -> how many subscribe() hold it)."""

    __slots__ = ("name", "subscribers", "target", "ready")

    def __init__(self, name: str) -> None:
        self.name = name
        self.subscribers: Dict[Any, int] = {}
        self.target = 0  # SUBSCRIBE commands sent for this name on the current connection, when ours went
        self.ready: Optional[asyncio.Future[None]] = None  # resolved when Redis confirms (or the link drops)


class Subscription:
    """``async with hub.subscribe(ws, channel):`` — ws receives the channel's messages inside."""

    def __init__(self, hub: Hub, ws: Any, channel: str) -> None:
        if not isinstance(channel, str) or not channel:
            raise ValueError(f"a channel is a non-empty str, got {channel!r}")
        self.hub = hub
        self.ws = ws
        self.channel = channel

    async def __aenter__(self) -> Subscription:
        await self.hub._add(self.ws, self.channel)
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.hub._remove(self.ws, self.channel)


class Hub:
    """Publish to channels; connections subscribed to a channel receive what is published to it.

    ``url``: None for this process only, or a Redis URL (``redis://host:port/db``,
    ``rediss://`` for TLS, ``unix://``) to reach every process subscribed to
    the same Redis. ``connect_timeout``: seconds to reach Redis.

    Counters: ``published`` (publish() calls), ``delivered`` (messages written
    to a connection), ``skipped`` (connections that could not take one: slow or
    closing), ``outages``
    (Redis connections lost).
    """

    def __init__(self, url: Optional[str] = None, *, connect_timeout: float = 5.0,
                 logger: Optional[logging.Logger] = None) -> None:
        if url is not None and not url.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError(f"Hub(url) takes a redis://, rediss:// or unix:// URL, got {url!r}")
        self.url = url
        self.connect_timeout = connect_timeout
        self.logger = logger or globals()["logger"]
        self.published = 0
        self.delivered = 0
        self.skipped = 0
        self.outages = 0
        self._channels: Dict[str, _Channel] = {}
        # Redis state (created on first use, in the running loop)
        self._client: Any = None
        self._pubsub: Any = None
        self._reader: Optional[asyncio.Task[None]] = None
        self._started = False
        self._wanted: Optional[asyncio.Event] = None  # set while some channel has subscribers
        self._sent: Dict[str, int] = {}  # SUBSCRIBE commands sent per name, on this connection
        self._acked: Dict[str, int] = {}  # ... and confirmed
        self._lock: Optional[asyncio.Lock] = None
        self._lost_at = 0.0

    # ------------------------------------------------------------------ public API

    def subscribe(self, ws: Any, channel: str) -> Subscription:
        """An async context manager: ``ws`` receives ``channel``'s messages while inside it."""
        return Subscription(self, ws, channel)

    async def publish(self, channel: str, message: Data) -> None:
        """Send ``message`` (str: text, bytes-like: binary) to every subscriber of ``channel``.

        Without Redis the message is written to the local subscribers before
        this returns. With Redis it returns once Redis has it; raises
        :class:`HubUnavailable` when Redis cannot be reached.
        """
        if not isinstance(channel, str) or not channel:
            raise ValueError(f"a channel is a non-empty str, got {channel!r}")
        if self.url is None:
            if not isinstance(message, str):
                message = as_bytes(message, "a message", "str or bytes-like")
            self.published += 1
            subscribers = self._channels.get(channel)
            if subscribers is not None:
                self._count(_deliver(list(subscribers.subscribers), message))
            return
        payload = encode_payload(message)
        client = await self._ensure_client()
        try:
            await client.publish(channel, payload)
        except _link_errors() as exc:
            raise HubUnavailable(f"cannot publish to Redis at {self.url}: {exc}") from exc
        self.published += 1

    async def start(self) -> None:
        """Check that Redis answers now (raises :class:`HubUnavailable` if not); optional, the first
        subscribe()/publish() connect too. A no-op without Redis."""
        if self.url is None:
            return
        client = await self._ensure_client()
        try:
            await client.ping()
        except _link_errors() as exc:
            raise HubUnavailable(f"cannot reach Redis at {self.url}: {exc}") from exc

    @property
    def connected(self) -> bool:
        """With Redis: whether the subscription connection is up (True without Redis)."""
        return self.url is None or self._pubsub is not None

    def subscribers(self, channel: str) -> int:
        """How many connections of this process are subscribed to ``channel``."""
        entry = self._channels.get(channel)
        return 0 if entry is None else len(entry.subscribers)

    async def close(self) -> None:
        """Drop the Redis connections (subscriptions are forgotten); the hub can be used again."""
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
        await self._drop_pubsub()
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()
        self._started = False
        self._channels.clear()

    async def __aenter__(self) -> Hub:
        await self.start()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    # ------------------------------------------------------------------ local bookkeeping

    def _count(self, result: Tuple[int, int]) -> None:
        self.delivered += result[0]
        self.skipped += result[1]

    async def _add(self, ws: Any, name: str) -> None:
        entry = self._channels.get(name)
        new = entry is None
        if entry is None:
            entry = self._channels[name] = _Channel(name)
        entry.subscribers[ws] = entry.subscribers.get(ws, 0) + 1
        if self.url is None or not new:
            if entry.ready is not None and not entry.ready.done():
                await asyncio.shield(entry.ready)  # someone else's SUBSCRIBE for it is on its way
            return
        try:
            await self._redis_subscribe(entry)
        except BaseException:
            self._forget(ws, name)
            raise

    def _forget(self, ws: Any, name: str) -> Optional[_Channel]:
        """Remove one hold of ws on name; the entry if it is now empty (and removed)."""
        entry = self._channels.get(name)
        if entry is None or ws not in entry.subscribers:
            return None
        entry.subscribers[ws] -= 1
        if entry.subscribers[ws] == 0:
            del entry.subscribers[ws]
        if entry.subscribers:
            return None
        del self._channels[name]
        if not self._channels and self._wanted is not None:
            self._wanted.clear()
        return entry

    async def _remove(self, ws: Any, name: str) -> None:
        entry = self._forget(ws, name)
        if entry is None or self.url is None or self._pubsub is None:
            return
        with contextlib.suppress(*_link_errors()):  # gone: a new connection will not subscribe to it
            await self._pubsub.unsubscribe(name)

    # ------------------------------------------------------------------ Redis

    async def _ensure_client(self) -> Any:
        if self._client is None:
            try:
                import redis.asyncio
                from redis.asyncio.retry import Retry
                from redis.backoff import NoBackoff
            except ImportError as exc:
                raise RuntimeError("Hub(url) needs the redis package: pip install 'wsfast[redis]'") from exc
            # no hidden retries: a lost connection is seen here, logged, and handled by the hub
            assert self.url is not None
            self._client = redis.asyncio.Redis.from_url(
                self.url, retry=Retry(NoBackoff(), 0), socket_connect_timeout=self.connect_timeout)
            self._lock = asyncio.Lock()
            self._wanted = asyncio.Event()
        return self._client

    async def _drop_pubsub(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        self._sent.clear()
        self._acked.clear()
        for entry in self._channels.values():  # nobody waits for a confirmation that cannot come
            if entry.ready is not None and not entry.ready.done():
                entry.ready.set_result(None)
        if pubsub is not None:
            try:
                await pubsub.aclose()
            except Exception:  # closing a broken connection: nothing left to do
                self.logger.debug("closing the Redis subscription connection failed", exc_info=True)

    def _send_subscribe(self, entries: Iterable[_Channel]) -> List[str]:
        """Note a SUBSCRIBE for these channels (the caller sends it)."""
        loop = asyncio.get_running_loop()
        names = []
        for entry in entries:
            count = self._sent.get(entry.name, 0) + 1
            self._sent[entry.name] = count
            entry.target = count
            if entry.ready is None or entry.ready.done():
                entry.ready = loop.create_future()
            names.append(entry.name)
        return names

    async def _redis_subscribe(self, entry: _Channel) -> None:
        """SUBSCRIBE for a channel's first local subscriber; returns once Redis confirms it (or the
        connection is lost, when the subscription waits for the reconnection)."""
        await self._ensure_client()
        assert self._wanted is not None and self._lock is not None
        self._wanted.set()
        if not self._started:
            async with self._lock:
                if not self._started:
                    await self._connect_pubsub(first=True)  # HubUnavailable when Redis is down at start
                    self._started = True
                    self._reader = asyncio.get_running_loop().create_task(self._read())
            if entry.ready is not None:
                await asyncio.shield(entry.ready)
            return
        if self._pubsub is None:
            return  # an outage: the reconnection subscribes to it
        names = self._send_subscribe([entry])
        try:
            await self._pubsub.subscribe(*names)
        except _link_errors():
            return  # the reader sees the loss too and resubscribes after reconnecting
        assert entry.ready is not None
        await asyncio.shield(entry.ready)

    async def _connect_pubsub(self, first: bool) -> None:
        """A new subscription connection, subscribed to every channel that has subscribers."""
        pubsub = self._client.pubsub(ignore_subscribe_messages=False)
        self._sent.clear()
        self._acked.clear()
        entries = list(self._channels.values())
        try:
            if entries:
                await pubsub.subscribe(*self._send_subscribe(entries))
            else:
                await pubsub.connect()
        except _link_errors() as exc:
            with contextlib.suppress(Exception):
                await pubsub.aclose()
            for entry in entries:
                if entry.ready is not None and not entry.ready.done():
                    entry.ready.set_result(None)
            if first:
                raise HubUnavailable(f"cannot reach Redis at {self.url}: {exc}") from exc
            raise
        self._pubsub = pubsub

    async def _read(self) -> None:
        """The one reader of the subscription connection: delivers messages, confirms subscriptions,
        and reconnects when the connection is lost."""
        errors = _link_errors()
        assert self._wanted is not None
        while True:
            pubsub = self._pubsub
            if pubsub is None:
                await self._reconnect()
                continue
            try:
                message = await pubsub.get_message(timeout=None)
            except errors as exc:
                self.outages += 1
                lost_at = time.monotonic()
                self.logger.warning(
                    "lost the Redis connection (%s): reconnecting; messages published until then are "
                    "not delivered to this process (pub/sub is at-most-once)", exc or type(exc).__name__)
                await self._drop_pubsub()
                self._lost_at = lost_at
                continue
            if message is None:
                continue
            kind = message["type"]
            if kind == "message":
                channel = message["channel"]
                name = channel.decode("utf-8", "replace") if isinstance(channel, bytes) else channel
                entry = self._channels.get(name)
                if entry is not None and entry.subscribers:
                    self._count(_deliver(list(entry.subscribers), decode_payload(message["data"])))
            elif kind == "subscribe":
                channel = message["channel"]
                name = channel.decode("utf-8", "replace") if isinstance(channel, bytes) else channel
                acked = self._acked.get(name, 0) + 1
                self._acked[name] = acked
                entry = self._channels.get(name)
                if entry is not None and entry.ready is not None and not entry.ready.done() \
                        and acked >= entry.target:
                    entry.ready.set_result(None)
                if entry is None and acked >= self._sent.get(name, 0):
                    self._sent.pop(name, None)
                    self._acked.pop(name, None)

    async def _reconnect(self) -> None:
        assert self._wanted is not None
        delay = _RECONNECT_FIRST
        while True:
            await self._wanted.wait()  # nothing to subscribe to: no need for a connection
            try:
                await self._connect_pubsub(first=False)
            except Exception as exc:
                self.logger.debug("reconnecting to Redis failed (%s); next try in %.2f s", exc, delay)
                await asyncio.sleep(delay)
                delay = min(_RECONNECT_CAP, delay * 2)
                continue
            gap = time.monotonic() - self._lost_at
            self.logger.warning("reconnected to Redis after %.1f s; resubscribed to %d channel(s); "
                                "messages published during the gap were lost", gap, len(self._channels))
            return
