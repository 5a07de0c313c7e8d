"""uvicorn's WebSocket protocol classes side by side: wsfast.uvicorn vs websockets-sansio vs wsproto.

The same raw ASGI echo app runs under uvicorn with each ``--ws`` class, each in its
own process (``wsfast.bench._uvicorn_server``), on asyncio + h11 and on uvloop +
httptools. The client costs the server nothing: it writes a pre-encoded stream
of masked frames in large writes (a block of frames, over and over) and reads the
echoes by counting bytes, on its own threads in this process, so the server bounds
the rate. Reported per cell, the medians of interleaved runs (the classes take
turns, in a rotating order): messages per second, and the server process's CPU
time (user + system, from its own getrusage) per message. The echoes of one
block are parsed and compared before any timing.

Targets (wsfast's CPU per message against websockets-sansio's, uvicorn's default
class): at most 1/2.5 of it at 64 B, at most 1/1.5 at 64 KiB.
"""

from __future__ import annotations

import atexit
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from typing import Any, Dict, List, Optional, TextIO, Tuple

from wsfast.bench import Settings, peer

TITLE = "uvicorn: raw ASGI echo, --ws wsfast.uvicorn vs websockets-sansio vs wsproto (server CPU per message)"
ORDER = 55

CLASSES = ["wsfast", "websockets-sansio", "wsproto"]
STACKS = [("asyncio", "h11"), ("uvloop", "httptools")]
# (row name, payload size, text?, messages per run, messages per run in --quick)
SIZES = [("64 B text", 64, True, 100_000, 20_000), ("64 KiB binary", 64 * 1024, False, 3_000, 600)]
TARGETS = {64: 2.5, 64 * 1024: 1.5}  # websockets-sansio's CPU per message / wsfast's, at least
BLOCK_BYTES = 256 * 1024  # one client write


class Server:
    """The echo under uvicorn with one --ws class, in a child process (stops when stdin closes)."""

    def __init__(self, ws: str, loop: str, http: str) -> None:
        env = dict(os.environ)
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "wsfast.bench._uvicorn_server", ws, loop, http],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, text=True,
        )
        line = self.proc.stdout.readline()  # type: ignore[union-attr]
        if not line.startswith("PORT "):
            self.stop()
            raise RuntimeError(f"uvicorn with --ws {ws} did not start (exit code {self.proc.poll()})")
        self.port = int(line.split()[1])

    def cpu(self) -> float:
        """The server process's CPU time so far (seconds, user + system)."""
        self.proc.stdin.write("cpu\n")  # type: ignore[union-attr]
        self.proc.stdin.flush()  # type: ignore[union-attr]
        line = self.proc.stdout.readline()  # type: ignore[union-attr]
        if not line.startswith("CPU "):
            raise RuntimeError(f"the server did not report its CPU time (exit code {self.proc.poll()})")
        return float(line.split()[1])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()  # type: ignore[union-attr]
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Workload:
    """The client's byte stream for one message size: a block of masked frames, sent repeatedly."""

    def __init__(self, size: int, text: bool, messages: int) -> None:
        from wsfast import encode_frame

        payloads: List[Any] = []
        frame_size = len(encode_frame(1, b"x" * size, mask=b"abcd"))
        per_block = max(1, min(BLOCK_BYTES // frame_size, messages))
        for _ in range(per_block):
            raw = os.urandom(size)
            payloads.append(raw.hex()[:size] if text else raw)
        self.payloads = payloads
        self.size = size
        self.opcode = 1 if text else 2
        self.block = b"".join(encode_frame(self.opcode, p.encode() if text else p, mask=True)
                              for p in payloads)
        self.blocks = max(1, messages // per_block)
        self.messages = self.blocks * per_block
        header = 2 if size < 126 else 4 if size < 65536 else 10
        self.echo_bytes = (header + size) * self.messages  # what the server sends back, unmasked


def _connect(port: int) -> socket.socket:
    from wsfast.handshake import ClientHandshake

    sock = socket.create_connection(("127.0.0.1", port), timeout=60)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.sendall(ClientHandshake(f"ws://127.0.0.1:{port}/").request.serialize())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            raise RuntimeError("the server closed the connection during the handshake")
        head += chunk
    if not head.startswith(b"HTTP/1.1 101"):
        raise RuntimeError(f"handshake refused: {head[:40]!r}")
    return sock


def _close(sock: socket.socket) -> None:
    from wsfast import encode_frame

    try:
        sock.sendall(encode_frame(8, b"\x03\xe8", mask=True))
        while sock.recv(65536):
            pass
    except OSError:
        pass
    finally:
        sock.close()


def check(server: Server, work: Workload) -> None:
    """One block through the server, every echo parsed and compared with what was sent."""
    from wsfast import FrameParser

    sock = _connect(server.port)
    try:
        sock.sendall(work.block)
        parser = FrameParser(client=True, max_message_size=None)
        got: List[Any] = []
        while len(got) < len(work.payloads):
            chunk = sock.recv(1 << 20)
            if not chunk:
                raise RuntimeError("the server closed the connection")
            got += [event.data for event in parser.feed(chunk)]
        if got != work.payloads:
            raise AssertionError("the echoes differ from the messages sent")
    finally:
        _close(sock)


def run_once(server: Server, work: Workload) -> Tuple[float, float]:
    """(wall seconds, server CPU seconds) for work.messages echoed."""
    sock = _connect(server.port)
    failure: List[BaseException] = []

    def write() -> None:
        try:
            for _ in range(work.blocks):
                sock.sendall(work.block)
        except BaseException as exc:  # reported by the reader
            failure.append(exc)

    try:
        buffer = memoryview(bytearray(1 << 20))
        left = work.echo_bytes
        cpu0 = server.cpu()
        started = time.perf_counter()
        writer = threading.Thread(target=write, daemon=True)
        writer.start()
        while left > 0:
            n = sock.recv_into(buffer)
            if not n:
                raise RuntimeError(f"the server closed the connection ({failure or 'no client error'})")
            left -= n
        elapsed = time.perf_counter() - started
        cpu = server.cpu() - cpu0
        writer.join()
    finally:
        _close(sock)
    if left < 0:
        raise AssertionError(f"the server sent {-left} bytes more than the echoes")
    return elapsed, cpu


def _fmt_rate(per_second: float) -> str:
    return f"{per_second / 1e6:.2f}M/s" if per_second >= 1e6 else f"{per_second / 1e3:.1f}k/s"


def measure_section(settings: Settings, out: TextIO) -> Dict[str, Any]:
    if peer("uvicorn", label="uvicorn") is None:
        return {"rows": []}
    rounds = 3 if settings.quick else 5
    rows: List[Dict[str, Any]] = []
    servers: List[Server] = []

    def stop_all() -> None:
        for server in servers:
            server.stop()

    atexit.register(stop_all)
    print(f"medians of {rounds} interleaved runs; per class: server CPU (user+sys) per message, "
          "messages/s; 'sansio/wsfast' = websockets-sansio's CPU per message over wsfast's", file=out)
    header = f"{'stack':<17} {'message':<14}" + "".join(f"{c:>26}" for c in CLASSES) + \
        f"{'sansio/wsfast':>16}{'wsproto/wsfast':>16}"
    print(header, file=out, flush=True)
    try:
        for loop, http in STACKS:
            if (loop == "uvloop" and peer("uvloop") is None) or peer(http) is None:
                continue
            present = start_servers(loop, http)
            servers += present.values()
            for name, size, text, messages, quick_messages in SIZES:
                work = Workload(size, text, quick_messages if settings.quick else messages)
                row = measure_cell(f"{loop}+{http}", name, present, work, rounds)
                rows.append(row)
                print(_format_row(row), file=out, flush=True)
            for server in present.values():
                server.stop()
    finally:
        stop_all()
        atexit.unregister(stop_all)
    _print_targets(rows, out)
    return {"rows": rows, "rounds": rounds}


def start_servers(loop: str, http: str) -> Dict[str, Server]:
    """One server per --ws class whose library is installed (the caller stops them)."""
    present: Dict[str, Server] = {}
    for ws in CLASSES:
        if ws != "wsfast" and peer("websockets" if ws == "websockets-sansio" else ws, label=ws) is None:
            continue
        present[ws] = Server(ws, loop, http)
    return present


def measure_cell(stack: str, name: str, servers: Dict[str, Server], work: Workload, rounds: int
                 ) -> Dict[str, Any]:
    """Every server checked and warmed up, then `rounds` runs each, the classes taking turns in a
    rotating order; the row of medians."""
    for server in servers.values():
        check(server, work)
        run_once(server, work)  # warm-up
    samples: Dict[str, List[Tuple[float, float]]] = {ws: [] for ws in servers}
    order = list(servers)
    for i in range(rounds):
        for ws in order[i % len(order):] + order[:i % len(order)]:
            samples[ws].append(run_once(servers[ws], work))
    return _row(stack, name, work.size, work.messages, samples)


def _row(stack: str, name: str, size: int, messages: int, samples: Dict[str, List[Tuple[float, float]]]
         ) -> Dict[str, Any]:
    results: Dict[str, Dict[str, Any]] = {}
    for ws, runs in samples.items():
        results[ws] = {
            "messages_per_s": statistics.median(messages / wall for wall, _ in runs),
            "cpu_us_per_message": statistics.median(cpu / messages * 1e6 for _, cpu in runs),
            "runs": [{"wall_s": wall, "cpu_s": cpu} for wall, cpu in runs],
        }
    ratios: Dict[str, Optional[float]] = {}
    mine = results.get("wsfast")
    for other in ("websockets-sansio", "wsproto"):
        theirs = results.get(other)
        ratios[other] = (theirs["cpu_us_per_message"] / mine["cpu_us_per_message"]
                         if mine and theirs else None)
    target = TARGETS.get(size)
    achieved = ratios.get("websockets-sansio")
    return {"stack": stack, "name": name, "size": size, "messages": messages, "results": results,
            "cpu_ratios": ratios, "target": target,
            "met": None if achieved is None or target is None else achieved >= target}


def _format_row(row: Dict[str, Any]) -> str:
    cells = []
    for ws in CLASSES:
        res = row["results"].get(ws)
        cells.append("-" if res is None else
                     f"{res['cpu_us_per_message']:.2f} us {_fmt_rate(res['messages_per_s']):>9}")
    ratios = []
    for other in ("websockets-sansio", "wsproto"):
        value = row["cpu_ratios"].get(other)
        mark = {True: "+", False: "!", None: ""}[row["met"]] if other == "websockets-sansio" else ""
        ratios.append("-" if value is None else f"{value:.2f}x{mark}")
    return f"{row['stack']:<17} {row['name']:<14}" + "".join(f"{c:>26}" for c in cells) + \
        "".join(f"{r:>16}" for r in ratios)


def _print_targets(rows: List[Dict[str, Any]], out: TextIO) -> None:
    lines = []
    for row in rows:
        if row["target"] is None:
            continue
        value = row["cpu_ratios"].get("websockets-sansio")
        verdict = "not measured" if value is None else ("ok" if row["met"] else "MISSED")
        shown = "-" if value is None else f"{value:.2f}x"
        lines.append(f"  {row['stack']} {row['name']}: websockets-sansio/wsfast CPU per message = {shown}, "
                     f"target >= {row['target']:.2f}x: {verdict}")
    if lines:
        print("targets (+ met, ! missed):", file=out)
        for line in lines:
            print(line, file=out)
