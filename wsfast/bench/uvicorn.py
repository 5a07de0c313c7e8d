"""uvicorn's WebSocket protocol classes side by side: wsfast.uvicorn vs websockets-sansio vs wsproto.

The same raw ASGI echo app (``_echo_servers.asgi_echo``) runs under uvicorn with
each ``--ws`` class, each in its own process, on asyncio + h11 (uvicorn's
default install) and on uvloop + httptools (``uvicorn[standard]``). The client
is the raw-socket one of the server section (``_raw_client``): it writes a
pre-encoded stream of masked frames in large writes and counts the echoes by
their size, so the server bounds the rate. Each cell is the median of the
repeats, taken round-robin over the three servers: the server process's CPU
time (user + sys, from its own getrusage) per message, and the wall time per
message (its inverse is messages/s; on a shared machine it follows the load).
Every echo is compared byte for byte once before timing. Server and client run on two
different CPUs where the machine allows it (``server.placement``, ``WSFAST_BENCH_PIN``).

Targets: wsfast's CPU per message at most 1/2.5 of websockets-sansio's
(uvicorn's default class) at 64 B, at most 1/1.5 at 64 KiB.
"""

from __future__ import annotations

import atexit
import os
from typing import Any, Dict, Iterator, Tuple

from wsfast.bench import Case, peer
from wsfast.bench.server import _check, _probe, _Target

TITLE = "uvicorn --ws classes: raw ASGI echo, server CPU (user+sys) per message, raw-socket client (median)"
ORDER = 56

CLASSES = ["wsfast", "websockets-sansio", "wsproto"]
STACKS = [("asyncio", "h11"), ("uvloop", "httptools")]
# (row name, message size, messages per sample, in quick mode)
SIZES = [("64 B", 64, 50_000, 10_000), ("64 KiB", 64 * 1024, 2_000, 400)]
METRICS = [("cpu", "server CPU/msg", "ns"), ("wall", "wall/msg", "ns")]

RATIOS = [
    ("wsfast", "websockets-sansio", "wsfast vs sansio"),
    ("wsfast", "wsproto", "wsfast vs wsproto"),
]
TARGETS: Dict[int, Dict[Tuple[str, str], float]] = {
    64: {("wsfast", "websockets-sansio"): 2.5},
    64 * 1024: {("wsfast", "websockets-sansio"): 1.5},
}


def _needed(loop: str, http: str) -> bool:
    return peer("uvicorn") is not None and peer(http) is not None and (loop != "uvloop" or peer("uvloop"))


def cases(quick: bool) -> Iterator[Case]:
    targets: Dict[Tuple[str, str], _Target] = {}

    def cleanup() -> None:
        for target in targets.values():
            target.close()
        targets.clear()

    atexit.register(cleanup)
    try:
        for loop, http in STACKS:
            if not _needed(loop, http):
                continue
            stack = f"{loop}+{http}"
            env = {"WSFAST_BENCH_LOOP": loop, "WSFAST_BENCH_HTTP": http}
            for ws in CLASSES:
                library = {"wsfast": "wsfast.uvicorn", "websockets-sansio": "websockets"}.get(ws, ws)
                if peer(library, label=ws) is None:
                    continue
                try:
                    targets[(stack, ws)] = _Target(f"uvicorn-{ws}", env=env)
                except Exception as exc:
                    peer(f"<uvicorn --ws {ws}: {exc}>", label=f"{ws} ({stack})")
            for name, size, count, quick_count in SIZES:
                payload = os.urandom(size)
                funcs: Dict[str, Any] = {}
                for ws in CLASSES:
                    target = targets.get((stack, ws))
                    if target is None:
                        funcs[ws] = None
                        continue
                    _check(target, "saturated", payload)
                    funcs[ws] = _probe(target, "saturated", payload, quick_count if quick else count)
                yield Case(f"{stack} {name}", size, funcs, TARGETS[size], probe=True, metrics=METRICS,
                           series=stack)
            for ws in CLASSES:
                target = targets.pop((stack, ws), None)
                if target is not None:
                    target.close()
    finally:
        cleanup()
        atexit.unregister(cleanup)
