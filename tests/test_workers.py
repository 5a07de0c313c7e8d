"""Several worker processes on one port (wsfast.asyncio.workers, ``python -m wsfast serve --workers``):
a SIGKILLed worker is replaced and clients connect again; SIGTERM closes every client of every
worker with 1001; both ways of sharing the port (SO_REUSEPORT, one inherited socket); TLS."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import pytest
from _tls_certs import tls  # noqa: F401 - the fixture

from wsfast.asyncio import (
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    connect,
    serve,
    workers,
)
from wsfast.enums import CloseCode
from wsfast.exceptions import TLSHandshakeError

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="signals to worker processes are POSIX")

TESTS = Path(__file__).parent
MODES = ["reuse_port", "inherited"]

# the API, for the inherited-socket mode (the command line picks SO_REUSEPORT on Linux)
API_RUN = """
import sys
from wsfast.asyncio import workers
def ready(urls):
    for url in urls:
        print("listening on", url, flush=True)
sys.exit(workers.run("_deploy_handlers:pid_echo", "127.0.0.1", 0, workers=int(sys.argv[1]),
                     reuse_port=sys.argv[2] == "reuse_port", on_ready=ready, close_timeout=3))
"""


class Workers:
    """A supervisor process and what it printed."""

    def __init__(self, argv):
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]))
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env=env, start_new_session=True)
        line = self.proc.stdout.readline()
        if "listening on" not in line:
            self.proc.kill()
            raise AssertionError(f"no listening line: {line!r} {self.proc.stderr.read()}")
        self.url = line.split()[-1]

    def stop(self, timeout=20.0):
        """SIGTERM to the supervisor; its exit status and stderr."""
        self.proc.send_signal(signal.SIGTERM)
        status = self.proc.wait(timeout)
        return status, self.proc.stderr.read()

    def kill(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)  # the supervisor and every worker
            self.proc.wait()


@pytest.fixture(params=MODES)
def mode(request):
    if request.param == "reuse_port" and not workers.reuse_port_balances():
        pytest.skip("SO_REUSEPORT balances connections on Linux only")
    return request.param


def start(mode, count=2, *extra):
    if mode == "reuse_port":  # the command line, which picks SO_REUSEPORT here
        return Workers([sys.executable, "-m", "wsfast", "serve", "_deploy_handlers:pid_echo", "--port", "0",
                        "--workers", str(count), "--close-timeout", "3", *extra])
    return Workers([sys.executable, "-c", API_RUN, str(count), mode])


async def open_client(url, **options):
    ws = await asyncio.wait_for(connect(url, ping_interval=None, **options), 10)
    hello = await asyncio.wait_for(ws.recv(), 10)
    assert hello.startswith("pid:"), hello
    return ws, int(hello[4:])


async def clients_on_every_worker(url, count, at_most=80):
    """Connect until every worker serves at least one client (the kernel picks the worker)."""
    clients = []
    for _ in range(at_most):
        clients.append(await open_client(url))
        if len({pid for _, pid in clients}) == count:
            return clients
    raise AssertionError(f"{at_most} clients reached only pids {sorted({p for _, p in clients})}")


def run(coro, timeout=60.0):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def test_sigterm_closes_every_client_of_every_worker_with_1001(mode):
    server = start(mode, 2)
    try:
        async def main():
            clients = await clients_on_every_worker(server.url, 2)
            clients += [await open_client(server.url) for _ in range(4)]
            for ws, _ in clients:
                await ws.send("before")
                assert await ws.recv() == "before"
            status, stderr = await asyncio.get_running_loop().run_in_executor(None, server.stop)
            for ws, pid in clients:
                with pytest.raises(ConnectionClosedOK) as info:
                    await asyncio.wait_for(ws.recv(), 10)
                assert info.value.code == CloseCode.GOING_AWAY, (pid, info.value)
                assert ws.close_code == CloseCode.GOING_AWAY
            return status, stderr, {pid for _, pid in clients}

        status, stderr, pids = run(main())
        assert status == 0, stderr
        for pid in pids:  # every worker is gone, not orphaned
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)
    finally:
        server.kill()


def test_a_killed_worker_is_replaced(mode):
    server = start(mode, 2, "-v") if mode == "reuse_port" else start(mode, 2)
    try:
        async def main():
            clients = await clients_on_every_worker(server.url, 2)
            first = {pid for _, pid in clients}
            victim = clients[0][1]
            os.kill(victim, signal.SIGKILL)
            for ws, pid in clients:
                if pid == victim:  # its clients lost the TCP connection: 1006
                    with pytest.raises(ConnectionClosedError) as info:
                        await asyncio.wait_for(ws.recv(), 10)
                    assert info.value.code == CloseCode.ABNORMAL_CLOSURE
                else:  # the other worker's clients did not notice
                    await ws.send("still here")
                    assert await asyncio.wait_for(ws.recv(), 10) == "still here"
            # new clients keep connecting (to the survivor, then also to the replacement)
            seen = set()
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                ws, pid = await open_client(server.url)
                await ws.close()
                assert pid != victim
                seen.add(pid)
                if seen - first:
                    break
                await asyncio.sleep(0.05)
            replacement = seen - first
            assert replacement, f"no new worker in 30 s; served by {seen}"
            for ws, _ in clients:
                await ws.close()
            return victim, replacement.pop()

        victim, replacement = run(main())
        status, stderr = server.stop()
        assert status == 0, stderr
        assert f"(pid {victim}) was killed by SIGKILL" in stderr and "restarting it" in stderr, stderr
        with pytest.raises(ProcessLookupError):
            os.kill(replacement, 0)
    finally:
        server.kill()


def test_tls_workers(tls):  # noqa: F811
    certfile, keyfile = tls.files("trusted")
    server = Workers([sys.executable, "-m", "wsfast", "serve", "_deploy_handlers:pid_echo", "--port", "0",
                      "--workers", "2", "--certfile", certfile, "--keyfile", keyfile])
    try:
        assert server.url.startswith("wss://127.0.0.1:")

        async def main():
            # a client that does not trust the certificate: 1015, and the worker serves on
            with pytest.raises(TLSHandshakeError) as info:
                await connect(server.url, ssl=ssl.create_default_context())
            assert info.value.close_code == CloseCode.TLS_HANDSHAKE
            ws, pid = await open_client(server.url, ssl=tls.client_context())
            await ws.send(b"\x00secure")
            assert await ws.recv() == b"\x00secure"
            await ws.close()

        run(main())
        status, stderr = server.stop()
        assert status == 0, stderr
    finally:
        server.kill()


def test_in_process_serve_names_a_handler():
    server = Workers([sys.executable, "-m", "wsfast", "serve", "_deploy_handlers:pid_echo", "--port", "0"])
    try:
        async def main():
            ws, pid = await open_client(server.url)
            assert pid == server.proc.pid  # no worker process: the command itself serves
            server.proc.send_signal(signal.SIGINT)
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 10)
            assert ws.close_code == CloseCode.GOING_AWAY

        run(main())
        assert server.proc.wait(15) == 0
    finally:
        server.kill()


@pytest.mark.parametrize("argv, words", [
    (["nosuchmodule_xyz:handler"], "cannot import 'nosuchmodule_xyz'"),
    (["_deploy_handlers:missing"], "has no attribute 'missing'"),
    (["_deploy_handlers"], "'module:attribute'"),
    (["--workers", "2", "--certfile", "/nonexistent.pem"], "No such file"),
])
def test_startup_errors_are_clear(argv, words):
    env = dict(os.environ, PYTHONPATH=str(TESTS))
    result = subprocess.run([sys.executable, "-m", "wsfast", "serve", "--port", "0", *argv],
                            capture_output=True, text=True, env=env, timeout=30)
    assert result.returncode == 2
    assert words in result.stderr
    assert "Traceback" not in result.stderr


def test_run_validates_its_arguments():
    for bad in (0, -1, True, 1.5):
        with pytest.raises(ValueError, match="workers must be a positive integer"):
            workers.run(None, workers=bad)
    with pytest.raises(ValueError, match="sock= is chosen"):
        workers.run(None, workers=2, sock=object())
    with pytest.raises(ValueError, match="certfile= / keyfile="):
        workers.run(None, workers=2, ssl=object())
    with pytest.raises(ValueError, match="picklable"):
        workers.run(None, workers=2, process_request=lambda ws, request: None)


def test_load_handler():
    from wsfast.asyncio.cli import echo

    assert workers.load_handler(None) is echo
    assert workers.load_handler("wsfast.asyncio.cli:echo") is echo
    assert workers.load_handler(echo) is echo
    with pytest.raises(ValueError, match="not callable"):
        workers.load_handler("wsfast.asyncio.workers:DEFAULT_HANDLER")


@pytest.mark.skipif(not hasattr(socket, "SO_REUSEPORT"), reason="no SO_REUSEPORT on this platform")
def test_serve_reuse_port_shares_a_port():
    """serve(reuse_port=True): a second server (here in the same process; in practice another
    process) listens on the same port; without it the port is taken."""
    async def main():
        async with serve(pid_echo_here, "127.0.0.1", 0, reuse_port=True) as first:
            port = first.sockets[0].getsockname()[1]
            assert first.sockets[0].getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT)
            with pytest.raises(OSError):
                await serve(pid_echo_here, "127.0.0.1", port)
            async with serve(pid_echo_here, "127.0.0.1", port, reuse_port=True) as second:
                assert second.sockets[0].getsockname()[1] == port
                first.close()  # the port stays served by the second
                await first.wait_closed()
                async with connect(f"ws://127.0.0.1:{port}", ping_interval=None) as ws:
                    await ws.send("shared")
                    assert await ws.recv() == "shared"

    run(main())


async def pid_echo_here(ws):
    async for message in ws:
        await ws.send(message)
