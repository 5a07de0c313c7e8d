"""A real redis-server for the pub/sub tests: started on a free port in a temporary directory
(no persistence), stoppable and restartable on the same port, always stopped at the end.

Missing redis-server is a skip, or a failure where WSFAST_REQUIRE_PEERS=1 (CI installs it).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from typing import Iterator, Optional

import pytest
from _aio_peers import free_port, require


class RedisServer:
    def __init__(self, directory) -> None:
        binary = shutil.which("redis-server")
        require(binary is not None, "redis-server is not installed (Debian: apt-get install redis-server)")
        self.binary = binary
        self.directory = directory
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: Optional[subprocess.Popen] = None

    def start(self) -> None:
        assert self.proc is None
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.directory), "--protected-mode", "no", "--loglevel", "warning"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited: {self.proc.stderr.read().decode()}")
            if self._answers():
                return
            time.sleep(0.02)
        raise RuntimeError("redis-server did not answer PING within 15 s")

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self, kill: bool = False) -> None:
        """SIGTERM (a clean shutdown: clients see their connection closed) or SIGKILL."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if kill:
            proc.kill()
        else:
            proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()


def _server(tmp_path_factory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory) -> Iterator[RedisServer]:
    """One redis-server for a test module."""
    yield from _server(tmp_path_factory)


@pytest.fixture
def own_redis_server(tmp_path_factory) -> Iterator[RedisServer]:
    """A redis-server for this test alone (it may stop and restart it)."""
    yield from _server(tmp_path_factory)


def closed_port_url() -> str:
    """A Redis URL nobody listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"redis://127.0.0.1:{port}/0"
