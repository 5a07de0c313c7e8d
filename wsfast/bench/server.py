"""Echo servers' CPU time per message, against the floor of a plain asyncio echo.

Three client patterns, each from a raw-socket client (``_raw_client``: no
event loop, no parser) in this process, against echo servers each in its own
process (``_echo_servers``):

- saturated 64 B: a stream of 64-byte binary messages in 256 KiB writes;
- saturated 256 KiB: a stream of 256 KiB messages in 256 KiB writes;
- one in flight 64 B: send one message, wait for its echo, repeat (chat,
  games, RPC: what an interactive application does).

The server's own CPU time (user + sys, from ``resource.getrusage`` in the
server process) per echoed message is the figure that matters: on a small
machine a client that shares the cores bounds throughput and changes how the
server batches, but not what each message costs the server. Wall time per
message is shown too (throughput = size / wall). Every cell is the median of
the repeats, taken round-robin over the servers so that load from the rest of
the machine falls on all of them alike.

Where the machine lets us (Linux, two CPUs or more; ``WSFAST_BENCH_PIN=0`` turns it
off), each probe pins the server and the client: on two different CPUs for the
saturated patterns (both are busy all the time), on the same CPU for one in
flight (each waits while the other works). Left to the scheduler, one in flight
landed on one CPU in some runs and on two in others, and a wake-up across CPUs
costs ~35 us of the server's CPU time on a small VM (interrupts, idle exits)
against ~7 us for the whole echo: the same server measured 7 us or 44 us per
message from one run to the next, and the ratios to the floor meant nothing.
On one CPU what is left is the server's own work per message.

``asyncio`` is the floor: a plain ``asyncio.Protocol`` that echoes bytes
with no WebSocket at all (the event loop and the kernel alone). ``wsfast`` is
a handler coroutine (``async for message in ws: await ws.send(message)``),
``wsfast-listener`` a :class:`~wsfast.asyncio.Listener` whose ``on_message``
answers with ``send_now()`` inside the read callback (picows' shape; no task
wake-up per message). Both run on asyncio's own transports, as the floor does;
picows runs on aiofastnet's compiled transports when aiofastnet is installed
(its default), which the notes under the table say. ``WSFAST_BENCH_TRANSPORT=
aiofastnet`` runs every server on them instead (``aiofastnet.patch_loop``). Every echo is
compared byte for byte with what is expected once before timing starts.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import socket
import time
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

from wsfast._env import env_flag
from wsfast.bench import Case, peer
from wsfast.bench._raw_client import client_frames, open_socket, ping_pong, saturate, server_frames
from wsfast.bench.echo import _Server

TITLE = "Echo servers: server CPU (user+sys) per message, raw-socket client (median)"
ORDER = 55

# "wsfast" runs a handler coroutine (async for / await send), "wsfast-listener" a Listener (callbacks)
SERVERS = ["asyncio", "wsfast", "wsfast-listener", "picows", "websockets", "aiohttp"]
# (row name, message size, pattern, messages per sample, in quick mode)
PATTERNS = [
    ("saturated 64 B", 64, "saturated", 50_000, 10_000),
    ("saturated 256 KiB", 256 * 1024, "saturated", 400, 80),
    ("one in flight 64 B", 64, "in flight", 3_000, 600),
]
METRICS = [("cpu", "server CPU/msg", "ns"), ("wall", "wall/msg", "ns"), ("sys", "of it sys/msg", "ns")]
QUICK_METRICS = METRICS[:2]

# (a, b, header): time(b) / time(a); "vs floor" 0.80x = wsfast costs 1.25x the floor
RATIOS = [
    ("wsfast", "asyncio", "wsfast vs floor"),
    ("wsfast", "picows", "wsfast vs picows"),
    ("wsfast-listener", "asyncio", "listener vs floor"),
    ("wsfast-listener", "picows", "listener vs picows"),
    ("wsfast", "websockets", "vs websockets"),
    ("wsfast", "aiohttp", "vs aiohttp"),
]

# issue 14's targets. One in flight is the listener's: a handler coroutine pays a task wake-up per
# message (a few microseconds), which no data path can win back; its ratios are in the table too.
TARGETS: Dict[str, Dict[Tuple[str, str], float]] = {
    "saturated 64 B": {("wsfast", "picows"): 5.0, ("wsfast-listener", "picows"): 5.0},
    "saturated 256 KiB": {("wsfast", "asyncio"): 1 / 1.25, ("wsfast-listener", "asyncio"): 1 / 1.25},
    "one in flight 64 B": {("wsfast-listener", "asyncio"): 1 / 1.1, ("wsfast-listener", "picows"): 1.0},
}
IN_FLIGHT_REPEATS = 15  # one in flight varies most from sample to sample: more samples per median


class _Target:
    """One server process and one connection to it per pattern (opened on first use)."""

    def __init__(self, kind: str, env: Optional[Dict[str, str]] = None) -> None:
        self.kind = kind
        self.server = _Server(kind, env=env)
        self.websocket = kind != "asyncio"
        self.socks: Dict[str, socket.socket] = {}

    def sock(self, pattern: str) -> socket.socket:
        if pattern not in self.socks:
            self.socks[pattern] = open_socket(self.server.port, websocket=self.websocket)
        return self.socks[pattern]

    def echo_of(self, sent: bytes, payload: bytes, count: int) -> bytes:
        """The expected echo of ``sent`` (``count`` messages of ``payload``)."""
        if not self.websocket:
            return sent  # the floor echoes bytes as they are
        return server_frames(payload, count)

    def close(self) -> None:
        for sock in self.socks.values():
            with contextlib.suppress(OSError):
                sock.close()
        self.server.stop()


def placement(pattern: str) -> Optional[Tuple[int, int]]:
    """(server CPU, client CPU) for a pattern's probes, or None to leave it to the scheduler
    (see the module doc)."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    if "WSFAST_BENCH_PIN" in os.environ and not env_flag("WSFAST_BENCH_PIN"):
        return None
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None
    if pattern == "saturated":
        return cpus[1], cpus[0]
    return cpus[0], cpus[0]


@contextlib.contextmanager
def _pinned(server_pid: int, where: Optional[Tuple[int, int]]) -> Iterator[None]:
    """Run the block with the server process and this (client) thread on the CPUs given."""
    if where is None:
        yield
        return
    mine = os.sched_getaffinity(0)
    try:
        theirs = os.sched_getaffinity(server_pid)
        os.sched_setaffinity(server_pid, {where[0]})
    except OSError:  # the server is gone: let the probe report it
        yield
        return
    os.sched_setaffinity(0, {where[1]})
    try:
        yield
    finally:
        os.sched_setaffinity(0, mine)
        with contextlib.suppress(OSError):
            os.sched_setaffinity(server_pid, theirs)


def _probe(target: _Target, pattern: str, payload: bytes, count: int) -> Callable[[], Dict[str, float]]:
    """A probe for one cell: run ``count`` messages, return CPU / wall / sys ns per message."""
    sock = target.sock(pattern)
    where = placement(pattern)
    if pattern == "saturated":
        stream = client_frames(payload, count)
        expect = len(target.echo_of(stream, payload, count))

        def run() -> None:
            saturate(sock, stream, expect)
    else:
        frame = client_frames(payload, 1)
        echo_size = len(target.echo_of(frame, payload, 1))

        def run() -> None:
            ping_pong(sock, frame, echo_size, count)

    def probe() -> Dict[str, float]:
        with _pinned(target.server.proc.pid, where):
            before = target.server.stats()
            t0 = time.perf_counter_ns()
            run()
            wall = time.perf_counter_ns() - t0
            after = target.server.stats()
        user = after["user"] - before["user"]
        system = after["sys"] - before["sys"]
        return {"cpu": (user + system) * 1e9 / count, "sys": system * 1e9 / count, "wall": wall / count}

    return probe


def _check(target: _Target, pattern: str, payload: bytes) -> None:
    """Every byte of a few echoes, exactly as expected (before anything is timed)."""
    sock = target.sock(pattern)
    count = 4 if pattern == "saturated" else 1
    sent = client_frames(payload, count)
    expected = target.echo_of(sent, payload, count)
    if saturate(sock, sent, len(expected), keep=True) != expected:
        raise AssertionError(f"{target.kind}: the echo differs from what was sent")


def notes() -> List[str]:
    """Which transports the servers ran on (picows' differs from the others' by default)."""
    forced = os.environ.get("WSFAST_BENCH_TRANSPORT")
    if forced:
        return [f"every server ran on {forced}'s transports (WSFAST_BENCH_TRANSPORT)"]
    try:
        import aiofastnet  # noqa: F401
    except ImportError:
        return ["every server ran on asyncio's own transports"]
    return ["picows ran on aiofastnet's compiled transports (installed here: picows' default); "
            "the floor, wsfast, websockets and aiohttp on asyncio's own"]


def cases(quick: bool) -> Iterator[Case]:
    targets: Dict[str, _Target] = {}

    def cleanup() -> None:
        for target in targets.values():
            target.close()
        targets.clear()

    atexit.register(cleanup)
    try:
        for kind in SERVERS:
            module = {"asyncio": "asyncio", "wsfast": "wsfast.asyncio",
                      "wsfast-listener": "wsfast.asyncio"}.get(kind, kind)
            if peer(module, label=kind) is None:
                continue
            try:
                targets[kind] = _Target(kind)
            except Exception as exc:
                peer(f"<{kind} echo server: {exc}>", label=kind)
        for name, size, pattern, count, quick_count in PATTERNS:
            payload = os.urandom(size)
            n = quick_count if quick else count
            funcs: Dict[str, Any] = {}
            for kind in SERVERS:
                target = targets.get(kind)
                if target is None:
                    funcs[kind] = None
                    continue
                _check(target, pattern, payload)
                funcs[kind] = _probe(target, pattern, payload, n)
            yield Case(name, size, funcs, TARGETS.get(name, {}), probe=True,
                       metrics=QUICK_METRICS if quick else METRICS, series=pattern,
                       repeats=IN_FLIGHT_REPEATS if pattern == "in flight" and not quick else None)
    finally:
        cleanup()
        atexit.unregister(cleanup)

