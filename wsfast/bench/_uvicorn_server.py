"""A raw ASGI echo app under uvicorn, one WebSocket protocol class per process (for the uvicorn bench).

``python -m wsfast.bench._uvicorn_server WS LOOP HTTP`` serves the echo on 127.0.0.1
with uvicorn's ``--ws WS --loop LOOP --http HTTP`` (WS: ``wsfast``, ``websockets-sansio``,
``wsproto``), no keepalive pings, no compression, 64 MiB messages allowed; prints
``PORT <n>`` once it listens. On its standard input, each ``cpu`` line is answered
with ``CPU <seconds>``: the process's user + system time (getrusage, every thread),
so the benchmark reads the server's own CPU time around a run; end of input stops it.
"""

from __future__ import annotations

import socket
import sys
import threading
from typing import Any, Callable, Dict, List, Optional

MAX_SIZE = 64 * 1024 * 1024
WS_CLASSES = {
    "wsfast": "wsfast.uvicorn:WSFastProtocol",
    "websockets-sansio": "websockets-sansio",
    "wsproto": "wsproto",
}


async def echo(scope: Dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
    """The plainest ASGI WebSocket echo: every message goes back as it came (text or bytes)."""
    if scope["type"] != "websocket":
        return
    while True:
        message = await receive()
        kind = message["type"]
        if kind == "websocket.receive":
            await send({"type": "websocket.send", "bytes": message.get("bytes"), "text": message.get("text")})
        elif kind == "websocket.connect":
            await send({"type": "websocket.accept"})
        else:
            return


def cpu_seconds() -> float:
    try:
        import resource
    except ImportError:  # Windows
        import time

        return time.process_time()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main(argv: Optional[List[str]] = None) -> None:
    import uvicorn

    ws, loop, http = sys.argv[1:4] if argv is None else argv
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)  # connections wait in the backlog until uvicorn serves
    config = uvicorn.Config(echo, ws=WS_CLASSES[ws], loop=loop, http=http, lifespan="off",
                            log_level="warning", ws_max_size=MAX_SIZE, ws_ping_interval=None,
                            ws_per_message_deflate=False)
    server = uvicorn.Server(config)

    def commands() -> None:
        for line in sys.stdin:
            if line.strip() == "cpu":
                print(f"CPU {cpu_seconds():.6f}", flush=True)
        server.should_exit = True

    print(f"PORT {sock.getsockname()[1]}", flush=True)
    threading.Thread(target=commands, daemon=True).start()
    server.run(sockets=[sock])


if __name__ == "__main__":
    main()
