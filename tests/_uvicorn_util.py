"""Helpers for the uvicorn tests: wsfast's protocol class per hot path, a uvicorn server on loopback,
the event loops uvicorn users run (asyncio + h11, uvloop + httptools), and a FastAPI test app.

The FastAPI app's ``/echo`` endpoint understands a few text commands so that one endpoint can
exercise the close paths from the client's side:

    "close:<code>:<reason>"   the app closes with that code and reason
    "raise"                   the app raises (after accept: 1011)
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
from typing import Any, AsyncIterator, List, Tuple

import pytest

from wsfast.bench._echo_servers import asgi_echo as raw_echo_app  # noqa: F401  (the plainest ASGI echo)
from wsfast.uvicorn import WSFastProtocol

uvicorn = pytest.importorskip("uvicorn")
fastapi = pytest.importorskip("fastapi")
WebSocket = fastapi.WebSocket  # a module-level name: FastAPI resolves the endpoints' annotations here

# (event loop, uvicorn HTTP protocol): uvicorn's default install, and uvicorn[standard]
STACKS = [("asyncio", "h11"), ("uvloop", "httptools")]
STACK_IDS = ["asyncio-h11", "uvloop-httptools"]


def protocol_class(kind: str) -> type:
    """WSFastProtocol on the compiled ("c") or pure-Python hot path (skips if unavailable)."""
    from conftest import load_impl

    load_impl(kind)
    return type(f"WSFastProtocol_{kind}", (WSFastProtocol,), {"hot_path": kind})


def run_on(loop: str, coro: Any, timeout: float = 30.0) -> Any:
    """Run a coroutine on a fresh asyncio or uvloop event loop, failing (not hanging) after `timeout`."""
    if loop == "uvloop":
        if importlib.util.find_spec("uvloop") is None:
            coro.close()
            pytest.skip("uvloop is not installed")
        import uvloop

        event_loop = uvloop.new_event_loop()
        try:
            return event_loop.run_until_complete(asyncio.wait_for(coro, timeout))
        finally:
            event_loop.run_until_complete(event_loop.shutdown_asyncgens())
            event_loop.close()
    return asyncio.run(asyncio.wait_for(coro, timeout))


def need_http(http: str) -> None:
    if http == "httptools" and importlib.util.find_spec("httptools") is None:
        pytest.skip("httptools is not installed")


@contextlib.asynccontextmanager
async def uvicorn_server(app: Any, kind: str, http: str = "h11", **options: Any
                         ) -> AsyncIterator[Tuple[Any, str]]:
    """uvicorn serving `app` with wsfast's class on an ephemeral loopback port; yields (server, ws:// URL)."""
    need_http(http)
    options.setdefault("lifespan", "off")
    options.setdefault("log_level", "warning")
    options.setdefault("timeout_graceful_shutdown", 5)  # a failing test must not hang the shutdown
    config = uvicorn.Config(app, host="127.0.0.1", port=0, ws=protocol_class(kind), http=http, **options)
    server = uvicorn.Server(config)
    task = asyncio.ensure_future(server.serve())
    for _ in range(500):
        if server.started or task.done():
            break
        await asyncio.sleep(0.01)
    assert server.started, "uvicorn did not start"
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield server, f"ws://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 15)


def connections(server: Any) -> List[WSFastProtocol]:
    return [c for c in server.server_state.connections if isinstance(c, WSFastProtocol)]


async def wait_for(predicate: Any, timeout: float = 10.0, what: str = "condition") -> None:
    """Poll `predicate` (cheap, no side effects) every 10 ms until it holds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


def fastapi_app(events: List[Tuple[Any, ...]]) -> Any:
    """The FastAPI app of these tests; what the endpoints saw goes to `events`."""
    from starlette.responses import PlainTextResponse

    app = fastapi.FastAPI()

    @app.websocket("/echo")
    async def echo(ws: WebSocket) -> None:
        offered = ws.scope["subprotocols"]
        await ws.accept(subprotocol="chat.v2" if "chat.v2" in offered else None)
        try:
            while True:
                message = await ws.receive()
                if message["type"] == "websocket.disconnect":
                    events.append(("disconnect", message["code"], message.get("reason", "")))
                    return
                text = message.get("text")
                if text is not None:
                    if text.startswith("close:"):
                        _, code, reason = text.split(":", 2)
                        await ws.close(int(code), reason)
                        events.append(("closed", int(code), reason))
                        return
                    if text == "raise":
                        raise RuntimeError("failure requested by the test")
                    await ws.send_text(text)
                else:
                    await ws.send_bytes(message["bytes"])
        except fastapi.WebSocketDisconnect as exc:
            events.append(("disconnect", exc.code, exc.reason))

    @app.websocket("/deny")
    async def deny(ws: WebSocket) -> None:
        await ws.send_denial_response(PlainTextResponse("members only", status_code=401,
                                                        headers={"X-Why": "no token"}))

    @app.websocket("/reject")
    async def reject(ws: WebSocket) -> None:
        await ws.close(code=1008)

    @app.websocket("/boom")
    async def boom(ws: WebSocket) -> None:
        raise RuntimeError("failure before accept, requested by the test")

    @app.websocket("/scope/{name}")
    async def scope(ws: WebSocket, name: str) -> None:
        await ws.accept()
        s = ws.scope
        await ws.send_json({
            "name": name, "path": s["path"], "raw_path": s["raw_path"].decode(), "root_path": s["root_path"],
            "query_string": s["query_string"].decode(), "scheme": s["scheme"],
            "headers": [[n.decode("latin-1"), v.decode("latin-1")] for n, v in s["headers"]],
            "subprotocols": s["subprotocols"], "client": list(s["client"]), "server": list(s["server"]),
            "spec_version": s["asgi"]["spec_version"], "extensions": sorted(s["extensions"]),
        })
        await ws.close()

    return app
