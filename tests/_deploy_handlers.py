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
