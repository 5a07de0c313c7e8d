"""Soak: hostile connections of every kind next to 100 well-behaved clients, one server process.

A wsfast server runs in a child process (``tests/_flow_child.py``: its memory read from
/proc, its log lines counted). For ``WSFAST_SOAK_SECONDS`` (30 by default; set it lower
while developing) this process keeps, side by side:

- ``WSFAST_SOAK_CLIENTS`` (100) well-behaved clients, each sending bursts of 1-3
  checksummed messages (text and binary, up to 16 KiB) to the echo handler, reading
  the echoes, answering the server's keepalive pings;
- hostile connections, each kind started again as soon as one ends: peers that vanish
  under a streaming handler (RST and FIN), never-readers (a yielding stream; an echo
  flood), ping flooders, keepalive flooders (pings and unsolicited pongs, reading
  nothing), data pushed during a slow ``process_request``, ambiguous upgrade requests,
  frame headers declaring the size limit, messages in 2-byte fragments, slowloris
  handshakes (the request head a byte at a time), and one client reading a stream as
  fast as it can (never answering a ping).

Asserted: every well-behaved client gets every echo intact and in order, and completes a
round trip in every ``PROGRESS_WINDOW`` from its upgrade on; the server's peak RSS growth
stays under ``SOAK_RSS``; every log line of the server names a hostile connection's peer,
at most one line per connection (none for the well-behaved clients). Printed, not asserted
(no timed assertions): the well-behaved round trips' p50/p99/max, the peak RSS, the log
lines by kind, the hostile connections made.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hashlib
import os
import random
import re
import struct
import sys
from typing import Any, Callable, Coroutine, Deque, Dict, List, Optional, Tuple

import _flow_lab as lab
import pytest
from _aio_util import IMPLEMENTATIONS, impl_or_skip, run
from _flow_lab import KiB, MiB

pytestmark = [
    pytest.mark.slow,
    pytest.mark.parametrize("kind", IMPLEMENTATIONS),
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads process memory from /proc"),
]

SOAK_SECONDS = float(os.environ.get("WSFAST_SOAK_SECONDS", "30"))
WELL_BEHAVED = int(os.environ.get("WSFAST_SOAK_CLIENTS", "100"))
# A liveness bound, not a timing target: a round trip normally takes milliseconds; a client
# that completes none for this long was starved or stuck.
PROGRESS_WINDOW = 5.0
# What the design lets the server hold at once: ~25 hostile connections, each at most the
# write limit (32 KiB) and what the parser keeps of a frame; two pushing behind a held
# handshake (at most 1 MiB each); one 256 KiB message in 2-byte fragments (about twice its
# size); 100 clients with up to three 16 KiB echoes in flight: about 10 MiB, plus the
# allocator's slack. The kernel's socket buffers are not the process's memory. Before the
# flow-control fixes one never-reader alone grew the server by 250 MiB in 2 s
# (benchmarks/flow_cases.py).
SOAK_RSS = 32 * MiB
# the server: keepalive on a short fuse (flooders and silent peers meet it), handshakes cut
# after 2 s (slowloris), /slow/... paths behind a 3 s process_request
SERVER_OPTIONS = {"ping_interval": 1.0, "ping_timeout": 3.0, "open_timeout": 2.0, "close_timeout": 2.0,
                  "max_message_size": 16 * MiB}
PROCESS_REQUEST_DELAY = 3.0
FRAGMENTED = 256 * KiB  # the 2-byte-fragment senders' message


# ---------------------------------------------------------------- well-behaved clients


def checksummed(client: int, seq: int, rng: random.Random) -> Tuple[int, bytes]:
    """(opcode, payload): a text or binary message naming its client and sequence number,
    with a SHA-256 of the rest at its end."""
    size = rng.choice((0, 16, 100, 1000, 4000, 16000)) + rng.randrange(16)
    body = rng.randbytes(size // 2).hex().encode() if seq % 2 else rng.randbytes(size)
    head = b"%d:%d:" % (client, seq)
    return (1 if seq % 2 else 2), head + body + b":" + hashlib.sha256(head + body).hexdigest().encode()


def intact(payload: bytes) -> bool:
    rest, _, digest = payload.rpartition(b":")
    return hashlib.sha256(rest).hexdigest().encode() == digest


class WellBehaved:
    """One well-behaved client's tally."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.port = 0
        self.opened = 0.0  # loop time the upgrade completed (a burst of connects may wait on the backlog)
        self.done: List[float] = []  # loop time of every completed round
        self.rtts: List[float] = []
        self.messages = 0
        self.problems: List[str] = []


async def well_behaved(port: int, client: WellBehaved, stop: asyncio.Event) -> None:
    """Bursts of 1-3 messages, each echo checked against what was sent (same bytes, same order,
    checksum intact); pings answered; a normal close at the end."""
    loop = asyncio.get_running_loop()
    rng = random.Random(client.index)
    seq = 0
    writer = None
    try:
        reader, writer = await lab.open_ws(port, f"/echo?id=w{client.index}", timeout=30)
        client.port = writer.get_extra_info("sockname")[1]
        client.opened = loop.time()
        while not stop.is_set():
            expected: Deque[Tuple[int, bytes]] = collections.deque()
            burst = b""
            for _ in range(rng.randint(1, 3)):
                opcode, payload = checksummed(client.index, seq, rng)
                seq += 1
                expected.append((opcode, payload))
                burst += lab.frame(opcode, payload)
            started = loop.time()
            writer.write(burst)
            while expected:
                _, opcode, payload = await asyncio.wait_for(lab.read_frame(reader), 30)
                if opcode == 9:
                    writer.write(lab.frame(10, payload))
                    continue
                if opcode == 8:
                    code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                    client.problems.append(f"closed by the server ({code}) after {client.messages} messages")
                    return
                want = expected.popleft()
                if (opcode, payload) != want:
                    client.problems.append(
                        f"message {client.messages}: got {payload[:24]!r} (intact: {intact(payload)}), "
                        f"expected {want[1][:24]!r}")
                    return
                client.messages += 1
            now = loop.time()
            client.rtts.append(now - started)
            client.done.append(now)
            await asyncio.sleep(rng.random() * 0.02)
        writer.write(lab.frame(8, struct.pack("!H", 1000)))
        code = await lab.close_code_on_wire(reader, 10)
        if code != 1000:
            client.problems.append(f"closing handshake: {code}")
    except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError) as exc:
        client.problems.append(f"after {client.messages} messages: {exc!r}")
    finally:
        if writer is not None:
            writer.transport.abort()


# ---------------------------------------------------------------- hostile connections
# Each runs one hostile connection to its end (bounded in time) and returns a problem to
# report, or None. They are written against the server's behaviour stated in
# tests/test_aio_flow.py; here they only have to leave the others unharmed.


async def quietly(coro: Coroutine[Any, Any, Any], seconds: float) -> Any:
    with contextlib.suppress(asyncio.TimeoutError, OSError, asyncio.IncompleteReadError):
        return await asyncio.wait_for(coro, seconds)
    return None


def mine(pair: Tuple[lab.Reader, lab.Writer], ports: Dict[int, int]) -> Tuple[lab.Reader, lab.Writer]:
    """Count the connection's local port: the server's log lines name it (a port comes back
    once its connection is gone)."""
    ports[pair[1].get_extra_info("sockname")[1]] += 1
    return pair


def leave(writer: lab.Writer, how: str) -> None:
    """lab.vanish, on a connection the server may have dropped already."""
    try:
        lab.vanish(writer, how)
    except OSError:
        writer.transport.abort()


async def vanish_rst(port: int, n: int, ports: Dict[int, int]) -> Optional[str]:
    return await _vanish(port, n, ports, "rst")


async def vanish_fin(port: int, n: int, ports: Dict[int, int]) -> Optional[str]:
    return await _vanish(port, n, ports, "fin")


async def _vanish(port: int, n: int, ports: Dict[int, int], how: str) -> Optional[str]:
    reader, writer = mine(await lab.open_ws(port, f"/stream?id=v{how}{n}"), ports)
    await lab.drain_until(reader, 256 * KiB, 10)
    leave(writer, how)
    return None


async def never_reader(port: int, n: int, ports: Dict[int, int]) -> Optional[str]:
    """A handler yields between 1 KiB sends; we read nothing for 3 s."""
    _, writer = mine(await lab.open_ws(port, f"/stream_yield?id=n{n}", rcvbuf=64 * KiB, limit=4 * KiB), ports)
    await asyncio.sleep(3)
    leave(writer, "rst")
    return None


async def echo_never_reader(port: int, n: int, ports: Dict[int, int]) -> Optional[str]:
    """16 KiB messages to the echo handler for 3 s, never reading the echoes."""
    _, writer = mine(await lab.open_ws(port, f"/echo?id=e{n}", rcvbuf=64 * KiB, limit=4 * KiB), ports)
    await lab.push(writer, lab.frame(2, b"e" * 16 * KiB), limit=64 * MiB, window=3, pace=0.002, stall=3)
    leave(writer, "rst")
    return None


async def ping_flooder(port: int, n: int, ports: Dict[int, int]) -> Optional[str]:
    """Pings as fast as the server takes them, never reading the pongs, for 3 s."""
    _, writer = mine(await lab.open_ws(port, f"/echo?id=p{n}", rcvbuf=64 * KiB, limit=4 * KiB), ports)
    await lab.push(writer, lab.frame(9, b"p" * 125) * 512, limit=1 << 30, window=3, stall=3)
    leave(writer, "rst")
    return None


async def keepalive_flooder(port: int, n: int, ports: Dict[int, int]) -> Optional[str]:
    """Pings and unsolicited pongs, reading nothing: the keepalive must end it."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    _, writer = mine(await lab.open_ws(port, f"/echo?id=k{n}", rcvbuf=64 * KiB, limit=4 * KiB), ports)
    flood = (lab.frame(9, b"p" * 125) + lab.frame(10, b"unsolicited")) * 64
    await lab.push(writer, flood, limit=1 << 30, window=15, stall=15, pace=0.01)
    leave(writer, "rst")
    if loop.time() - started >= 15:
        return "a keepalive flooder was not timed out in 15 s"
    return None


async def push_in_handshake(port: int, n: int, ports: Dict[int, int]) -> Optional[str]:
    """Frames pushed behind the request head while process_request sleeps; gone after 2 s."""
    _, writer = mine(await lab.open_tcp(port, rcvbuf=64 * KiB, limit=4 * KiB), ports)
    writer.write(lab.upgrade_request(port, f"/slow/echo?id=s{n}"))
    await lab.push(writer, lab.frame(2, b"s" * 64 * KiB) * 16, limit=256 * MiB, window=2, stall=2)
    leave(writer, "rst")
    return None


async def ambiguous(port: int, n: int, ports: Dict[int, int]) -> Optional[str]:
    """One of the ambiguous upgrade requests (in turn): it must get 400."""
    names = list(lab.AMBIGUOUS_REQUESTS)
    name = names[n % len(names)]
    target = {"GET *": "*", "target neither origin- nor absolute-form": "127.0.0.1/echo"}.get(name, "/echo")
    reader, writer = mine(await lab.open_tcp(port), ports)
    try:
        writer.write(lab.upgrade_request(port, target, lab.AMBIGUOUS_REQUESTS[name] or ""))
        head = await asyncio.wait_for(reader.readuntil(b"\r\n"), 10)
    finally:
        writer.transport.abort()
    return None if head.startswith(b"HTTP/1.1 400 ") else f"{name}: {head[:30]!r}"


async def declared_frame(port: int, n: int, ports: Dict[int, int]) -> Optional[str]:
    """A header declaring a 16 MiB frame (the limit) and 15 bytes of it; held 2 s."""
    _, writer = mine(await lab.open_ws(port, f"/echo?id=d{n}", limit=4 * KiB), ports)
    writer.write(lab.frame(2, b"x" * 15, length=16 * MiB))
    await asyncio.sleep(2)
    leave(writer, "rst")
    return None


async def fragments(port: int, n: int, ports: Dict[int, int]) -> Optional[str]:
    """A 256 KiB message in 2-byte fragments (1 MiB on the wire); the echo must be intact."""
    reader, writer = mine(await lab.open_ws(port, f"/echo?id=g{n}"), ports)
    data = os.urandom(FRAGMENTED)
    wire = bytearray()
    for i in range(0, FRAGMENTED, 2):
        wire += lab.frame(0 if i else 2, data[i:i + 2], fin=i + 2 >= FRAGMENTED)
    writer.write(bytes(wire))
    try:
        while True:
            _, opcode, payload = await asyncio.wait_for(lab.read_frame(reader), 30)
            if opcode == 9:
                writer.write(lab.frame(10, payload))
            else:
                return None if (opcode, payload) == (2, data) else f"echo of opcode {opcode}, intact: False"
    finally:
        leave(writer, "rst")


async def slowloris(port: int, n: int, ports: Dict[int, int]) -> Optional[str]:
    """The request head a byte every 0.2 s: the server must drop it (open_timeout)."""
    loop = asyncio.get_running_loop()
    reader, writer = mine(await lab.open_tcp(port), ports)
    request = lab.upgrade_request(port, f"/echo?id=l{n}")
    started = loop.time()
    try:
        for i in range(len(request)):
            writer.write(request[i:i + 1])
            if await quietly(reader.read(1), 0.2) == b"" or writer.is_closing():
                return None  # dropped
            if loop.time() - started > 10:
                return "a slowloris handshake was kept for 10 s"
        return "a slowloris handshake completed"
    except OSError:
        return None
    finally:
        writer.transport.abort()


Hostile = Callable[[int, int, Dict[int, int]], Coroutine[Any, Any, Optional[str]]]
# each kind, and how many of it run at once
HOSTILE: List[Tuple[Hostile, int]] = [
    (vanish_rst, 2), (vanish_fin, 2), (never_reader, 2), (echo_never_reader, 2), (ping_flooder, 2),
    (keepalive_flooder, 2), (push_in_handshake, 2), (ambiguous, 1), (declared_frame, 2),
    (fragments, 1), (slowloris, 4),
]


class HostileTally:
    def __init__(self) -> None:
        self.started: Dict[str, int] = collections.Counter()
        self.problems: List[str] = []
        self.ports: Dict[int, int] = collections.Counter()  # hostile connections per local port


async def hostile_loop(port: int, fn: Hostile, tally: HostileTally, stop: asyncio.Event) -> None:
    name = fn.__name__
    while not stop.is_set():
        n = tally.started[name]
        tally.started[name] += 1
        try:
            problem = await asyncio.wait_for(fn(port, n, tally.ports), 30)
        except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, ConnectionError) as exc:
            problem = None if isinstance(exc, (ConnectionResetError, BrokenPipeError)) else repr(exc)
        if problem:
            tally.problems.append(f"{name} #{n}: {problem}")
        await asyncio.sleep(0.05)


# ---------------------------------------------------------------- the soak


def percentile(values: List[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def stalls(client: WellBehaved, start: float, end: float) -> List[Tuple[float, float]]:
    """The gaps longer than PROGRESS_WINDOW between the client's upgrade, each completed round,
    and the end (as (seconds into the soak, gap))."""
    marks = [client.opened or start] + client.done + [end]
    return [(a - start, b - a) for a, b in zip(marks, marks[1:]) if b - a > PROGRESS_WINDOW]


PEER = re.compile(r"\('127\.0\.0\.1', (\d+)\)")


def lines_per_port(lines: List[str]) -> Dict[Optional[int], int]:
    """How many log lines name each peer's port (None: lines naming no peer, a traceback's)."""
    ports = [PEER.search(line) for line in lines]
    return dict(collections.Counter(int(m.group(1)) if m else None for m in ports))


def log_kinds(lines: List[str]) -> Dict[str, int]:
    """Log lines grouped by their text with addresses and numbers blanked."""
    return dict(collections.Counter(re.sub(r"\d+(\.\d+)*", "N", line)[:90] for line in lines))


async def soak(kind: str) -> Dict[str, Any]:
    config = {"options": SERVER_OPTIONS, "process_request_delay": PROCESS_REQUEST_DELAY}
    async with lab.wsfast_server(lab.CURRENT, kind, **config) as server:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        clients = [WellBehaved(i) for i in range(WELL_BEHAVED)]
        hostile = HostileTally()
        cpu = server.cpu()
        start = loop.time()
        tasks = [asyncio.ensure_future(well_behaved(server.port, c, stop)) for c in clients]
        # it never answers a ping: the keepalive may end it (write progress keeps it alive meanwhile)
        fast = lab.FastReader(server.port, "/stream?id=f")
        hostile.ports[fast.sock.getsockname()[1]] += 1
        hostile.started["fast_reader"] += 1
        fast.start()
        tasks += [asyncio.ensure_future(hostile_loop(server.port, fn, hostile, stop))
                  for fn, count in HOSTILE for _ in range(count)]
        try:
            await asyncio.sleep(SOAK_SECONDS)
        finally:
            end = loop.time()
            stop.set()
            fast.stop()
            await asyncio.wait(tasks, timeout=60)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.sleep(1.0)  # the last hostile connections' log lines reach us
        status = server.status()
        rtts = [r for c in clients for r in c.rtts]
        return {
            "clients": clients, "hostile": hostile, "start": start, "end": end, "logs": list(server.logs),
            "rss_growth": status["VmHWM"] - server.base["VmRSS"], "peak_rss": status["VmHWM"],
            "rounds": len(rtts), "messages": sum(c.messages for c in clients),
            "p50": percentile(rtts, 0.5), "p99": percentile(rtts, 0.99),
            "max": max(rtts, default=float("nan")),
            "cpu": server.cpu() - cpu, "streamed": fast.received,
        }


def test_soak_hostile_connections_beside_well_behaved_clients(kind, capsys):
    impl_or_skip(kind)  # fails under CI when the compiled hot path is missing
    r = run(soak(kind), SOAK_SECONDS + 180)
    clients: List[WellBehaved] = r["clients"]
    hostile: HostileTally = r["hostile"]
    made = sum(hostile.started.values())
    elapsed = r["end"] - r["start"]
    with capsys.disabled():
        print(f"\nsoak [{kind}] {elapsed:.0f} s, {len(clients)} well-behaved clients: {r['rounds']} round "
              f"trips, {r['messages']} messages echoed; round trip p50 {r['p50'] * 1e3:.1f} ms, "
              f"p99 {r['p99'] * 1e3:.1f} ms, max {r['max'] * 1e3:.1f} ms")
        print(f"soak [{kind}] server: peak RSS {r['peak_rss'] / MiB:.1f} MiB (growth "
              f"{r['rss_growth'] / MiB:.1f} MiB; bound on growth {SOAK_RSS / MiB:.0f} MiB), "
              f"CPU {r['cpu']:.1f} s, {r['streamed'] / MiB:.0f} MiB streamed to the fast reader; "
              f"{len(r['logs'])} log lines for {made} hostile connections")
        reused = sum(n > 1 for n in hostile.ports.values())
        print(f"soak [{kind}] hostile connections: {dict(hostile.started)} ({reused} ports reused)")
        print(f"soak [{kind}] log lines: {log_kinds(r['logs'])}")
    problems = [f"client {c.index}: {p}" for c in clients for p in c.problems]
    assert not problems, problems[:10]
    starved = {c.index: stalls(c, r["start"], r["end"]) for c in clients if stalls(c, r["start"], r["end"])}
    assert not starved, f"clients without a round trip for over {PROGRESS_WINDOW} s (at s, for s): {starved}"
    assert r["rss_growth"] < SOAK_RSS, r["rss_growth"]
    per_port = lines_per_port(r["logs"])
    assert None not in per_port, [line for line in r["logs"] if not PEER.search(line)][:40]
    # none for the well-behaved clients
    strangers = set(per_port) - set(hostile.ports)
    assert not strangers, [line for line in r["logs"] if any(f", {p})" in line for p in strangers)]
    over = {p: (n, hostile.ports[p]) for p, n in per_port.items() if p is not None and n > hostile.ports[p]}
    assert not over, f"(port: (log lines, hostile connections)): {over}"
    assert not hostile.problems, hostile.problems[:10]
    assert all(hostile.started[fn.__name__] >= 1 for fn, _ in HOSTILE), hostile.started
