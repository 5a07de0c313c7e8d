"""TCP-level liveness options for WebSocket connections: keep-alive probes and TCP_USER_TIMEOUT.

WebSocket's own ping/pong is the primary way to notice a dead peer: it runs
end to end, through proxies, and its timing is the application's. The kernel's
mechanisms are a complement, for when application pings are off or cannot run:

- TCP keep-alive (``tcp_keepalive``) sends empty probes on an *idle*
  connection and fails it (ETIMEDOUT) after ``count`` probes go unanswered:
  a dead peer is noticed after about ``idle + interval * count`` seconds. It
  costs no application code and no bytes in WebSocket frames, and keeps NAT
  and firewall state alive. It does nothing while data is unacknowledged:
  then the kernel retransmits instead, which on Linux goes on for about 15
  minutes (``net.ipv4.tcp_retries2``).
- ``tcp_user_timeout`` (Linux's TCP_USER_TIMEOUT) bounds exactly that case:
  how long sent data may stay unacknowledged before the connection fails.

``tcp_keepalive`` is ``False`` (leave the socket as it is), ``True``
(SO_KEEPALIVE with the operating system's timing, usually two hours before
the first probe: rarely what a WebSocket service wants) or a tuple
``(idle_s, interval_s, count)``: whole seconds before the first probe,
whole seconds between probes, unanswered probes before the connection fails.
``tcp_user_timeout`` is in seconds (like every other wsfast timeout; the
kernel gets milliseconds), ``None`` to leave the system default.

Platforms: Linux and the BSDs have TCP_KEEPIDLE / TCP_KEEPINTVL / TCP_KEEPCNT;
macOS names the idle time TCP_KEEPALIVE; Windows takes the three options on
recent versions and otherwise ``SIO_KEEPALIVE_VALS`` (idle and interval only;
the probe count is fixed by the system, 10 since Vista). TCP_USER_TIMEOUT
exists on Linux only: elsewhere it is skipped, and :func:`configure_socket`
says so once in the log.
"""

from __future__ import annotations

import logging
import socket
import sys
from typing import Any, NamedTuple, Optional, Tuple, Union

__all__ = [
    "KeepaliveTiming",
    "TcpKeepalive",
    "keepalive_timing",
    "validate_user_timeout",
    "set_tcp_keepalive",
    "set_tcp_user_timeout",
    "configure_socket",
    "configure_transport",
    "is_tcp_socket",
]

TcpKeepalive = Union[bool, Tuple[int, int, int]]

# Linux's limits (the tightest of the platforms that take these options)
MAX_KEEPIDLE = 32767
MAX_KEEPINTVL = 32767
MAX_KEEPCNT = 127
MAX_USER_TIMEOUT = (2**31 - 1) / 1000  # the kernel takes an unsigned int of milliseconds

_logger = logging.getLogger("wsfast.sockopts")
_warned_user_timeout = False


class KeepaliveTiming(NamedTuple):
    """Validated keep-alive timing: seconds before the first probe, seconds between probes,
    unanswered probes before the connection fails."""

    idle: int
    interval: int
    probes: int

    @property
    def detection_time(self) -> int:
        """Seconds from the last data exchanged to the connection failing, at most."""
        return self.idle + self.interval * self.probes


def _whole(value: Any, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"tcp_keepalive {name} must be a whole number of seconds/probes, "
                        f"not {type(value).__name__}")
    if value != int(value):
        raise ValueError(f"tcp_keepalive {name} must be a whole number (the kernel counts in "
                         f"seconds), got {value!r}")
    number = int(value)
    if not low <= number <= high:
        raise ValueError(f"tcp_keepalive {name} must be between {low} and {high}, got {number}")
    return number


def keepalive_timing(tcp_keepalive: Any) -> Optional[KeepaliveTiming]:
    """Validate a ``tcp_keepalive`` option: None for False, a KeepaliveTiming for a tuple, and
    ``KeepaliveTiming(0, 0, 0)`` for True (SO_KEEPALIVE with the system's timing).

    Raises TypeError / ValueError naming what is wrong, so that ``serve()`` and
    ``connect()`` fail when called rather than on the first connection.
    """
    if tcp_keepalive is False or tcp_keepalive is None:
        return None
    if tcp_keepalive is True:
        return KeepaliveTiming(0, 0, 0)
    if not isinstance(tcp_keepalive, (tuple, list)) or len(tcp_keepalive) != 3:
        raise TypeError("tcp_keepalive must be False, True or a tuple (idle_s, interval_s, count), "
                        f"got {tcp_keepalive!r}")
    idle, interval, count = tcp_keepalive
    return KeepaliveTiming(_whole(idle, "idle_s", 1, MAX_KEEPIDLE),
                           _whole(interval, "interval_s", 1, MAX_KEEPINTVL),
                           _whole(count, "count", 1, MAX_KEEPCNT))


def validate_user_timeout(tcp_user_timeout: Any) -> Optional[int]:
    """Validate ``tcp_user_timeout`` (seconds, > 0, or None) and return it in milliseconds."""
    if tcp_user_timeout is None:
        return None
    if isinstance(tcp_user_timeout, bool) or not isinstance(tcp_user_timeout, (int, float)):
        raise TypeError(f"tcp_user_timeout must be a number of seconds or None, got {tcp_user_timeout!r}")
    if not 0 < tcp_user_timeout <= MAX_USER_TIMEOUT:
        raise ValueError(f"tcp_user_timeout must be > 0 and <= {MAX_USER_TIMEOUT:.0f} seconds, "
                         f"got {tcp_user_timeout!r}")
    return max(1, round(tcp_user_timeout * 1000))


def is_tcp_socket(sock: Any) -> bool:
    """True for a TCP socket (keep-alive means nothing on a Unix socket or a pipe)."""
    families = {socket.AF_INET, getattr(socket, "AF_INET6", socket.AF_INET)}
    return sock.family in families and sock.type == socket.SOCK_STREAM


def _windows_keepalive_vals(sock: Any, timing: KeepaliveTiming) -> None:
    """Windows without the TCP_KEEP* options: SIO_KEEPALIVE_VALS (milliseconds; no count)."""
    raw = socket.socket(fileno=sock.fileno())  # a second object on the same handle, detached after
    try:
        raw.ioctl(socket.SIO_KEEPALIVE_VALS,  # type: ignore[attr-defined]
                  (1, timing.idle * 1000, timing.interval * 1000))
    finally:
        raw.detach()


def set_tcp_keepalive(sock: Any, tcp_keepalive: Any) -> Optional[KeepaliveTiming]:
    """Apply ``tcp_keepalive`` to a connected (or listening) TCP socket; returns the timing set.

    ``sock`` is a socket.socket or what ``transport.get_extra_info("socket")``
    returns. False leaves the socket untouched (returns None).
    """
    timing = tcp_keepalive if isinstance(tcp_keepalive, KeepaliveTiming) else keepalive_timing(tcp_keepalive)
    if timing is None:
        return None
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    if timing.idle == 0:  # True: the system's timing
        return timing
    idle_option = getattr(socket, "TCP_KEEPIDLE", None)
    if idle_option is None and sys.platform == "darwin":
        idle_option = getattr(socket, "TCP_KEEPALIVE", 0x10)  # macOS's name for the idle time
    interval_option = getattr(socket, "TCP_KEEPINTVL", None)
    count_option = getattr(socket, "TCP_KEEPCNT", None)
    try:
        if idle_option is None or interval_option is None:
            raise OSError("no TCP_KEEPIDLE / TCP_KEEPINTVL here")
        sock.setsockopt(socket.IPPROTO_TCP, idle_option, timing.idle)
        sock.setsockopt(socket.IPPROTO_TCP, interval_option, timing.interval)
        if count_option is not None:
            sock.setsockopt(socket.IPPROTO_TCP, count_option, timing.probes)
    except OSError:
        if sys.platform != "win32":
            raise
        _windows_keepalive_vals(sock, timing)  # older Windows: idle and interval, the count is fixed
    return timing


def set_tcp_user_timeout(sock: Any, tcp_user_timeout: Any) -> bool:
    """Apply ``tcp_user_timeout`` (seconds) as TCP_USER_TIMEOUT; False where the platform
    lacks the option (nothing is changed), True when set. None leaves the socket untouched."""
    millis = validate_user_timeout(tcp_user_timeout)
    if millis is None:
        return False
    option = getattr(socket, "TCP_USER_TIMEOUT", None)
    if option is None:
        return False
    sock.setsockopt(socket.IPPROTO_TCP, option, millis)
    return True


def configure_socket(
    sock: Any,
    *,
    tcp_keepalive: Any = False,
    tcp_user_timeout: Optional[float] = None,
    logger: Optional[logging.Logger] = None,
) -> None:
    """Apply both options to one connection's socket (skipped for non-TCP sockets).

    The integration point for the I/O layers: call it from ``connection_made``
    with ``transport.get_extra_info("socket")``; validate the options earlier
    with :func:`keepalive_timing` / :func:`validate_user_timeout` so bad values
    fail at ``serve()`` / ``connect()`` time. A platform without
    TCP_USER_TIMEOUT is logged once per process, not raised: the same
    configuration then runs on a developer's macOS or Windows machine.
    """
    global _warned_user_timeout
    if sock is None or not is_tcp_socket(sock):
        return
    set_tcp_keepalive(sock, tcp_keepalive)
    applied = set_tcp_user_timeout(sock, tcp_user_timeout)
    if tcp_user_timeout is not None and not applied and not _warned_user_timeout:
        _warned_user_timeout = True
        (logger or _logger).warning("tcp_user_timeout is ignored: TCP_USER_TIMEOUT is Linux-only")


def configure_transport(
    transport: Any,
    *,
    tcp_keepalive: Any = False,
    tcp_user_timeout: Optional[float] = None,
    logger: Optional[logging.Logger] = None,
) -> None:
    """:func:`configure_socket` on an asyncio transport's socket (a no-op when both are off)."""
    if tcp_keepalive is False and tcp_user_timeout is None:
        return
    configure_socket(transport.get_extra_info("socket"), tcp_keepalive=tcp_keepalive,
                     tcp_user_timeout=tcp_user_timeout, logger=logger)
