"""Serving from several processes: N workers on one port, a supervisor that replaces the dead ones.

::

    from wsfast.asyncio import workers

    if __name__ == "__main__":      # worker processes are spawned: they re-import this module
        workers.run("chat:handler", "0.0.0.0", 8765, workers=4)

or ``python -m wsfast serve chat:handler --workers 4``.

How the port is shared:

- Linux: every worker opens its own listening socket with SO_REUSEPORT and
  the kernel spreads new connections across them. The supervisor first binds
  (without listening) a socket of the same group, which fixes the port when 0
  was asked for and holds it while workers come and go; a socket that does not
  listen is never handed a connection.
- elsewhere (macOS accepts SO_REUSEPORT but gives every connection to one
  socket; Windows has no such option) the supervisor opens the listening
  sockets itself and every worker accepts on inherited copies.

The supervisor restarts a worker that dies (at once if it served for a while,
with a growing delay if it keeps dying young), and stops everything on
SIGTERM / SIGINT: each worker closes its server, so every client of every
worker gets 1001, waits up to ``close_timeout`` for the closing handshakes,
then exits; a worker that is still running after that is killed. Workers are
started with multiprocessing's "spawn" method on every platform (no state
inherited by accident, the same behaviour everywhere), so the handler must be
importable: a ``"module:attribute"`` string, or a module-level function.
``serve_options`` are sent to the workers, so they must be picklable; TLS is
given as ``certfile`` / ``keyfile`` (an SSLContext cannot cross a process
boundary) and each worker loads it.

``workers=None`` serves in this process instead (no supervisor), with the same
signal handling.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import multiprocessing
import multiprocessing.connection
import os
import pickle
import signal
import socket
import ssl as ssl_module
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

from .. import _defaults
from .server import Handler, serve

__all__ = ["run", "load_handler", "reuse_port_balances", "DEFAULT_HANDLER"]

HandlerSpec = Union[None, str, Handler]

DEFAULT_HANDLER = "wsfast.asyncio.cli:echo"
logger = logging.getLogger("wsfast.workers")

# a worker that dies younger than this is restarted after a growing delay (up to the cap)
_YOUNG_DEATH = 1.0
_RESTART_DELAY_CAP = 5.0
_KILL_GRACE = 5.0  # after close_timeout, how long a stopping worker may take before it is killed


def reuse_port_balances() -> bool:
    """Whether SO_REUSEPORT spreads connections across listeners here (Linux does; macOS and the
    BSDs' plain SO_REUSEPORT do not)."""
    return sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


def load_handler(spec: HandlerSpec) -> Handler:
    """The handler named by ``"package.module:attribute"`` (attribute may be dotted), a callable
    as it is, or wsfast's echo handler for None."""
    if spec is None:
        spec = DEFAULT_HANDLER
    if callable(spec):
        return spec
    if not isinstance(spec, str) or ":" not in spec:
        raise ValueError(f"a handler is named 'module:attribute', got {spec!r}")
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"a handler is named 'module:attribute', got {spec!r}")
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"cannot import {module_name!r} for the handler {spec!r}: {exc}") from exc
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise ValueError(f"{module_name!r} has no attribute {attribute!r} (handler {spec!r})") from None
    if not callable(target):
        raise ValueError(f"the handler {spec!r} is not callable")
    return target  # type: ignore[no-any-return]


def _tls_context(certfile: Optional[str], keyfile: Optional[str]) -> Optional[ssl_module.SSLContext]:
    if certfile is None:
        if keyfile is not None:
            raise ValueError("keyfile without certfile")
        return None
    context = ssl_module.create_default_context(ssl_module.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certfile, keyfile)
    return context


def _url(sockname: Any, secure: bool) -> str:
    host, port = sockname[:2]
    host = f"[{host}]" if ":" in host else host
    return f"{'wss' if secure else 'ws'}://{host}:{port}"


# ---------------------------------------------------------------- serving until told to stop


async def _serve_until_stopped(
    handler: Handler,
    host: Optional[str],
    port: int,
    sockets: Sequence[socket.socket],
    ssl: Optional[ssl_module.SSLContext],
    serve_options: Dict[str, Any],
    started: Callable[[List[str]], None],
    stop_requested: Optional[Callable[[Callable[[], None]], None]] = None,
) -> None:
    """Serve (on ``sockets`` when given, else on host:port) until SIGINT / SIGTERM or until
    ``stop_requested`` calls back; then close gracefully (1001 to every connection)."""
    loop = asyncio.get_running_loop()
    stop = loop.create_future()

    def request_stop() -> None:
        if not stop.done():
            stop.set_result(None)

    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):  # Windows: no handlers
            loop.add_signal_handler(signum, request_stop)
    if stop_requested is not None:
        def request_stop_threadsafe() -> None:
            loop.call_soon_threadsafe(request_stop)

        stop_requested(request_stop_threadsafe)
    options = dict(serve_options)
    if ssl is not None:
        options["ssl"] = ssl
    servers = []
    try:
        if sockets:
            for sock in sockets:
                servers.append(await serve(handler, sock=sock, **options))
        else:
            servers.append(await serve(handler, host, port, **options))
        started([_url(s.getsockname(), ssl is not None) for server in servers for s in server.sockets])
        await stop
    finally:
        for server in servers:
            server.close()
        for server in servers:
            await server.wait_closed()


def _serve_here(config: _WorkerConfig, on_ready: Optional[Callable[[List[str]], None]]) -> int:
    """``workers=None``: serve in this process."""
    handler = load_handler(config.handler)
    ssl = config.ssl_context if config.ssl_context is not None else _tls_context(config.certfile,
                                                                                 config.keyfile)

    def started(urls: List[str]) -> None:
        if on_ready is not None:
            on_ready(urls)
        else:
            logger.info("serving on %s", ", ".join(urls))

    with contextlib.suppress(KeyboardInterrupt):  # Windows: no signal handlers, Ctrl-C raises
        asyncio.run(_serve_until_stopped(handler, config.host, config.port, [], ssl,
                                         config.serve_options, started))
    return 0


# ---------------------------------------------------------------- worker processes


@dataclass
class _WorkerConfig:
    """What a worker process needs (sent to it pickled)."""

    handler: HandlerSpec
    host: Optional[str]
    port: int
    reuse_port: bool
    sockets: List[socket.socket] = field(default_factory=list)  # inherited-socket mode
    certfile: Optional[str] = None
    keyfile: Optional[str] = None
    serve_options: Dict[str, Any] = field(default_factory=dict)
    log_level: Optional[int] = None
    ssl_context: Any = None  # in-process only: never sent to a worker


def _watch_supervisor(control: Any, stop: Callable[[], None]) -> None:
    """Stop when the supervisor says so, or when it is gone (its end of the pipe closed)."""
    with contextlib.suppress(EOFError, OSError):
        while control.recv() != "stop":
            pass
    stop()


def _worker_main(index: int, config: _WorkerConfig, control: Any) -> None:
    """The entry point of a worker process."""
    if config.log_level is not None:
        logging.basicConfig(level=config.log_level,
                            format=f"%(asctime)s worker {index} %(name)s %(levelname)s %(message)s")
    handler = load_handler(config.handler)
    ssl = _tls_context(config.certfile, config.keyfile)
    options = dict(config.serve_options)
    if config.reuse_port:
        options["reuse_port"] = True

    def started(urls: List[str]) -> None:
        control.send(("ready", os.getpid(), urls))

    def watch(stop: Callable[[], None]) -> None:
        threading.Thread(target=_watch_supervisor, args=(control, stop), daemon=True,
                         name="wsfast-supervisor-watch").start()

    # Ctrl-C in a terminal reaches the whole process group: the worker closes gracefully on its
    # own and the supervisor's "stop" that follows finds it already closing
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve_until_stopped(handler, config.host, config.port, config.sockets, ssl,
                                         options, started, watch))


@dataclass
class _Worker:
    index: int
    process: Any
    control: Any
    started_at: float
    pid: Optional[int] = None
    ready: bool = False


def _exit_description(exitcode: Optional[int]) -> str:
    if exitcode is None:
        return "is running"
    if exitcode < 0:
        try:
            return f"was killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"was killed by signal {-exitcode}"
    return f"exited with status {exitcode}"


class _Supervisor:
    """Starts the workers, restarts the ones that die, stops them all on SIGTERM / SIGINT."""

    def __init__(self, config: _WorkerConfig, workers: int,
                 on_ready: Optional[Callable[[List[str]], None]]) -> None:
        self.config = config
        self.count = workers
        self.on_ready = on_ready
        self.context = multiprocessing.get_context("spawn")
        self.workers: Dict[int, _Worker] = {}
        self.restarts: Dict[int, float] = {}  # index -> when to start it again
        self.young_deaths: Dict[int, int] = {}
        self.announced = False
        self.stopping = False
        self.status = 0
        self._placeholders: List[socket.socket] = []
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        close_timeout = config.serve_options.get("close_timeout", _defaults.CLOSE_TIMEOUT)
        self.stop_grace = (close_timeout or 0.0) + _KILL_GRACE
        self.stop_deadline = 0.0

    # -- the port

    def _bind_all(self, listen: bool) -> List[socket.socket]:
        """Sockets on every address of host (the port of the first for all when port is 0)."""
        host = self.config.host or None
        infos = socket.getaddrinfo(host, self.config.port, socket.AF_UNSPEC, socket.SOCK_STREAM,
                                   0, socket.AI_PASSIVE)
        seen = set()
        infos = [i for i in infos if not (i[4] in seen or seen.add(i[4]))]  # type: ignore[func-returns-value]
        for _ in range(10):  # port 0 on several addresses: the first one's port may be taken on another
            port = self.config.port
            socks: List[socket.socket] = []
            try:
                for family, type_, proto, _, sockaddr in infos:
                    sock = socket.socket(family, type_, proto)
                    socks.append(sock)
                    if os.name == "posix":
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    if self.config.reuse_port:
                        sock.setsockopt(socket.SOL_SOCKET, getattr(socket, "SO_REUSEPORT"), 1)  # noqa: B009
                    if family == getattr(socket, "AF_INET6", None):
                        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                    sock.bind((sockaddr[0], port, *sockaddr[2:]))
                    port = sock.getsockname()[1]
                    if listen:
                        sock.listen(self.config.serve_options.get("backlog", 100))
                        sock.set_inheritable(True)
                return socks
            except OSError:
                for sock in socks:
                    sock.close()
                if self.config.port != 0 or len(infos) == 1:
                    raise
        raise OSError(f"could not find one free port on every address of {host!r}")

    def _prepare_port(self) -> None:
        if self.config.reuse_port:
            self._placeholders = self._bind_all(listen=False)  # holds the port, takes no connection
            self.config.port = self._placeholders[0].getsockname()[1]
        else:
            self.config.sockets = self._bind_all(listen=True)

    # -- workers

    def _spawn(self, index: int) -> None:
        parent, child = self.context.Pipe(duplex=True)
        process = self.context.Process(target=_worker_main, args=(index, self.config, child),
                                       name=f"wsfast-worker-{index}", daemon=False)
        process.start()
        child.close()
        self.workers[index] = _Worker(index, process, parent, time.monotonic())
        logger.info("worker %d started (pid %d)", index, process.pid)

    def _on_message(self, worker: _Worker) -> bool:
        """Handle one message from a worker; False at the end of its pipe (it is exiting)."""
        try:
            message = worker.control.recv()
        except (EOFError, OSError):
            return False
        if message[0] == "ready":
            worker.ready = True
            worker.pid = message[1]
            logger.info("worker %d (pid %d) is listening", worker.index, worker.pid)
            if not self.announced and all(w.ready for w in self.workers.values()) \
                    and len(self.workers) == self.count:
                self.announced = True
                urls = message[2]
                if self.on_ready is not None:
                    self.on_ready(urls)
                else:
                    logger.info("%d workers serving on %s", self.count, ", ".join(urls))
        return True

    def _on_exit(self, worker: _Worker) -> None:
        worker.process.join()
        worker.control.close()
        del self.workers[worker.index]
        how = _exit_description(worker.process.exitcode)
        if self.stopping:
            logger.info("worker %d (pid %s) %s", worker.index, worker.process.pid, how)
            return
        if not self.announced and not worker.ready:
            logger.error("worker %d (pid %s) %s before it listened: stopping", worker.index,
                         worker.process.pid, how)
            self.status = 1
            self._begin_stop()
            return
        lived = time.monotonic() - worker.started_at
        if lived < _YOUNG_DEATH:
            deaths = self.young_deaths.get(worker.index, 0) + 1
            self.young_deaths[worker.index] = deaths
            delay = min(_RESTART_DELAY_CAP, 0.1 * 2**deaths)
        else:
            self.young_deaths.pop(worker.index, None)
            delay = 0.0
        logger.warning("worker %d (pid %s) %s after %.1f s: restarting it%s", worker.index,
                       worker.process.pid, how, lived, f" in {delay:.1f} s" if delay else "")
        self.restarts[worker.index] = time.monotonic() + delay

    # -- stopping

    def _signal(self, signum: int, frame: Any) -> None:
        with contextlib.suppress(OSError):
            self._wake_w.send(bytes([signum & 0xFF]))

    def _begin_stop(self) -> None:
        if self.stopping:
            return
        self.stopping = True
        self.restarts.clear()
        self.stop_deadline = time.monotonic() + self.stop_grace
        for worker in self.workers.values():
            with contextlib.suppress(OSError, BrokenPipeError):
                worker.control.send("stop")

    def _kill_stragglers(self) -> None:
        for worker in list(self.workers.values()):
            logger.warning("worker %d (pid %s) did not stop in %.0f s: killing it", worker.index,
                           worker.process.pid, self.stop_grace)
            worker.process.kill()

    # -- the loop

    def run(self) -> int:
        self._prepare_port()
        previous = {}
        signums = [signal.SIGINT, signal.SIGTERM]
        if hasattr(signal, "SIGBREAK"):
            signums.append(signal.SIGBREAK)  # Windows: Ctrl-Break
        for signum in signums:
            previous[signum] = signal.signal(signum, self._signal)
        try:
            for index in range(1, self.count + 1):
                self._spawn(index)
            return self._loop()
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            for sock in [*self._placeholders, *self.config.sockets, self._wake_r, self._wake_w]:
                sock.close()

    def _loop(self) -> int:
        while self.workers or (self.restarts and not self.stopping):
            now = time.monotonic()
            for index, when in list(self.restarts.items()):
                if when <= now:
                    del self.restarts[index]
                    self._spawn(index)
            timeout: Optional[float] = None
            if self.restarts:
                timeout = max(0.0, min(self.restarts.values()) - now)
            if self.stopping:
                left = self.stop_deadline - now
                if left <= 0:
                    self._kill_stragglers()
                    self.stop_deadline = now + 60.0
                    left = _KILL_GRACE
                timeout = left if timeout is None else min(timeout, left)
            waitables: List[Any] = [self._wake_r]
            owners: Dict[Any, Tuple[str, _Worker]] = {}
            for worker in self.workers.values():
                owners[worker.process.sentinel] = ("exit", worker)
                owners[worker.control] = ("message", worker)
                waitables += [worker.process.sentinel, worker.control]
            for ready in multiprocessing.connection.wait(waitables, timeout):
                if ready is self._wake_r:
                    with contextlib.suppress(BlockingIOError):
                        signums = self._wake_r.recv(64)
                        logger.info("%s: stopping the workers (1001 to every client)",
                                    ", ".join(signal.Signals(s).name for s in signums))
                    self._begin_stop()
                    continue
                kind, worker = owners[ready]
                if kind == "message" and self.workers.get(worker.index) is worker:
                    self._on_message(worker)
            # exits last: a worker's final messages are read before it is forgotten
            for kind, worker in owners.values():
                if kind == "exit" and self.workers.get(worker.index) is worker \
                        and worker.process.exitcode is not None:
                    while worker.control.poll() and self._on_message(worker):
                        pass
                    self._on_exit(worker)
        return self.status


# ---------------------------------------------------------------- the entry point


def run(
    handler: HandlerSpec = None,
    host: Optional[str] = "127.0.0.1",
    port: int = 8765,
    *,
    workers: Optional[int] = None,
    certfile: Optional[str] = None,
    keyfile: Optional[str] = None,
    reuse_port: Optional[bool] = None,
    on_ready: Optional[Callable[[List[str]], None]] = None,
    log_level: Optional[int] = None,
    **serve_options: Any,
) -> int:
    """Serve ``handler`` until SIGTERM / SIGINT, in ``workers`` processes or (None) in this one.

    ``handler``: a ``"module:attribute"`` string, a module-level callable, or
    None for echo. ``certfile`` / ``keyfile``: TLS (PEM files, loaded by each
    worker). ``reuse_port``: None picks SO_REUSEPORT where the kernel balances
    it (Linux) and one inherited listening socket elsewhere; True / False
    force one or the other. ``on_ready(urls)`` is called once every worker
    listens (else the URLs are logged). ``log_level`` configures logging in
    the worker processes. Everything else goes to :func:`wsfast.asyncio.serve`
    in every worker (picklable values only). Returns the exit status: 0 after
    a graceful stop, 1 when a worker could not start.
    """
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise ValueError(f"workers must be a positive integer or None, got {workers!r}")
    for reserved in ("sock", "reuse_port"):
        if reserved in serve_options:
            raise ValueError(f"{reserved}= is chosen by workers.run(); see its reuse_port parameter")
    load_handler(handler)  # a wrong name fails here, once, rather than in every worker
    if workers is None:
        ssl_context = serve_options.pop("ssl", None)
        config = _WorkerConfig(handler, host, port, reuse_port=bool(reuse_port), certfile=certfile,
                               keyfile=keyfile, serve_options=serve_options, ssl_context=ssl_context)
        if reuse_port:
            config.serve_options["reuse_port"] = True
        return _serve_here(config, on_ready)
    if "ssl" in serve_options:
        raise ValueError("with workers, give TLS as certfile= / keyfile= (an SSLContext cannot be sent "
                         "to worker processes)")
    _tls_context(certfile, keyfile)  # unreadable files fail here too
    if reuse_port is None:
        reuse_port = reuse_port_balances()
    elif reuse_port and not hasattr(socket, "SO_REUSEPORT"):
        raise ValueError("reuse_port=True: this platform has no SO_REUSEPORT")
    config = _WorkerConfig(handler, host, port, reuse_port=reuse_port, certfile=certfile, keyfile=keyfile,
                           serve_options=serve_options, log_level=log_level)
    try:
        pickle.dumps((config.handler, config.serve_options))
    except Exception as exc:
        raise ValueError(f"the handler and serve options are sent to worker processes and must be "
                         f"picklable: {exc}") from exc
    return _Supervisor(config, workers, on_ready).run()
