"""Connection handlers that the deployment tests start in server processes (by name, as
``python -m wsfast serve _deploy_handlers:NAME`` with tests/ on PYTHONPATH)."""

from __future__ import annotations

import os

from wsfast.asyncio import ConnectionClosed


async def pid_echo(ws):
    """Say which process serves this connection ("pid:N"), then echo."""
    await ws.send(f"pid:{os.getpid()}")
    try:
        async for message in ws:
            await ws.send(message)
    except ConnectionClosed:
        pass


_hub = None


def _the_hub():
    global _hub
    if _hub is None:
        from wsfast.pubsub import Hub

        _hub = Hub(os.environ["WSFAST_TEST_REDIS_URL"])
    return _hub


async def hub_chat(ws):
    """Subscribe to "room" on the process's Redis hub, say "subscribed", publish what comes in."""
    hub = _the_hub()
    try:
        async with hub.subscribe(ws, "room"):
            await ws.send("subscribed")
            async for message in ws:
                await hub.publish("room", message)
    except ConnectionClosed:
        pass
