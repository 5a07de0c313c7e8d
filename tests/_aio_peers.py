"""Real peers for the asyncio tests: Node's `ws`, headless Chromium, child processes.

Every helper is bounded in time and cleans up what it started. A missing peer
is a skip, except where WSFAST_REQUIRE_PEERS=1 says the peers were installed
(`.ci/run` installs them all and sets it): there it is a failure, so a broken
install can never pass silently.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import AsyncIterator, List, Optional

import pytest

from wsfast._env import env_flag

HERE = Path(__file__).resolve().parent
NODE_DIR = HERE / "peers" / "node"
ROOT = HERE.parent


def require(condition: bool, why: str) -> None:
    """Skip when a peer is missing, or fail where the peers must be there (WSFAST_REQUIRE_PEERS)."""
    if condition:
        return
    if env_flag("WSFAST_REQUIRE_PEERS"):
        pytest.fail(f"peer missing although WSFAST_REQUIRE_PEERS is set: {why}")
    pytest.skip(why)


def require_node() -> str:
    node = shutil.which("node")
    require(node is not None, "node is not installed")
    require((NODE_DIR / "node_modules" / "ws").is_dir(), f"run `npm ci` in {NODE_DIR}")
    return node  # type: ignore[return-value]


def chromium_path() -> Optional[str]:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def kill_process(proc: asyncio.subprocess.Process) -> None:
    """Kill a child (and its process group) and reap it."""
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(proc.wait(), 10)


async def read_json_lines(stream: asyncio.StreamReader, into: List[dict]) -> None:
    while True:
        line = await stream.readline()
        if not line:
            return
        with contextlib.suppress(ValueError):
            into.append(json.loads(line))


class NodeServer:
    """`node echo_server.js` on an ephemeral port; `events` collects its JSON lines."""

    def __init__(self, proc: asyncio.subprocess.Process, port: int) -> None:
        self.proc = proc
        self.port = port
        self.events: List[dict] = []
        self._reader = asyncio.ensure_future(read_json_lines(proc.stdout, self.events))  # type: ignore[arg-type]

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    async def wait_for_event(self, predicate, timeout: float = 10.0) -> dict:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            for event in self.events:
                if predicate(event):
                    return event
            if loop.time() > deadline:
                raise AssertionError(f"node server never reported the event; got {self.events}")
            await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def node_server(deflate: bool = False) -> AsyncIterator[NodeServer]:
    """``deflate``: the server accepts permessage-deflate and compresses every message."""
    node = require_node()
    env = dict(os.environ, PEER_DEFLATE="1" if deflate else "0")
    proc = await asyncio.create_subprocess_exec(
        node, str(NODE_DIR / "echo_server.js"), "0",
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=str(NODE_DIR), env=env, start_new_session=True,
    )
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), 20)  # type: ignore[union-attr]
        assert line.startswith(b"PORT "), line
        server = NodeServer(proc, int(line.split()[1]))
        try:
            yield server
        finally:
            server._reader.cancel()
    finally:
        await kill_process(proc)


async def node_client(url: str, steps: list, timeout: float = 60.0, deflate: bool = False) -> List[dict]:
    """Run `node client.js` through `steps`; return its JSON lines (the last is the close).
    ``deflate``: the client offers permessage-deflate and compresses every message."""
    node = require_node()
    env = dict(os.environ, PEER_TIMEOUT_MS=str(int(timeout * 1000)), PEER_DEFLATE="1" if deflate else "0")
    proc = await asyncio.create_subprocess_exec(
        node, str(NODE_DIR / "client.js"), url, json.dumps(steps),
        stdout=subprocess.PIPE, cwd=str(NODE_DIR), env=env, start_new_session=True,
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout + 10)
    finally:
        await kill_process(proc)
    return [json.loads(line) for line in out.decode().splitlines() if line.strip()]


@contextlib.asynccontextmanager
async def chromium(url: str) -> AsyncIterator[asyncio.subprocess.Process]:
    """Headless Chromium showing `url`, with a throwaway profile; killed on exit."""
    browser = chromium_path()
    require(browser is not None, "chromium is not installed")
    profile = tempfile.mkdtemp(prefix="wsfast-chromium-")
    args = [
        browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-dev-shm-usage", f"--user-data-dir={profile}", url,
    ]
    proc = await asyncio.create_subprocess_exec(
        *args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    try:
        yield proc
    finally:
        await kill_process(proc)
        shutil.rmtree(profile, ignore_errors=True)


async def python_child(code: str, *, env: Optional[dict] = None) -> asyncio.subprocess.Process:
    """A Python child running `code` with the repository importable; stdout is a pipe."""
    full_env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    if env:
        full_env.update(env)
    return await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, stdout=subprocess.PIPE, stdin=subprocess.PIPE,
        env=full_env, start_new_session=True,
    )


BROWSER_DIR = HERE / "peers" / "browser"


class PageServer:
    """A tiny HTTP/1.1 server for browser tests: GET serves files from
    tests/peers/browser (anything else is a blank page); POST bodies are queued
    in `posts` as (path, text) so the page can report back to the test."""

    def __init__(self) -> None:
        self.posts: asyncio.Queue = asyncio.Queue()
        self.server: Optional[asyncio.AbstractServer] = None
        self.port = 0

    async def __aenter__(self) -> PageServer:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc) -> None:
        assert self.server is not None
        self.server.close()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.server.wait_closed(), 5)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def next_post(self, timeout: float = 30.0):
        return await asyncio.wait_for(self.posts.get(), timeout)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            lines = head.decode("latin-1").split("\r\n")
            method, target, _ = lines[0].split(" ", 2)
            headers = {}
            for line in lines[1:]:
                if ":" in line:
                    name, value = line.split(":", 1)
                    headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            path = target.split("?", 1)[0]
            if method == "POST":
                await self.posts.put((path, body.decode("utf-8", "replace")))
                payload, ctype = b"ok", "text/plain"
            else:
                page = BROWSER_DIR / path.lstrip("/")
                if path != "/" and page.is_file() and page.parent == BROWSER_DIR:
                    payload, ctype = page.read_bytes(), "text/html; charset=utf-8"
                else:
                    payload, ctype = b"<!doctype html><title>blank</title>", "text/html"
            writer.write(
                f"HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\nContent-Length: {len(payload)}\r\n"
                f"Cache-Control: no-store\r\nConnection: close\r\n\r\n".encode() + payload
            )
            await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.TimeoutError, ConnectionError, ValueError):
            pass
        finally:
            writer.close()
