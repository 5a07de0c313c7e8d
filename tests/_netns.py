"""A peer that can die silently: a network namespace joined to ours by a veth pair.

Killing a process makes its kernel answer with a RST, which every stack notices
at once; what goes unnoticed is a peer that vanishes (a laptop lid closed, a NAT
entry expired, a host unplugged): packets simply stop. To reproduce that for
real, the ``dead_peer_lab`` fixture

- creates a network namespace and a veth pair with a /30 between them
  (``host_address`` on our side, ``peer_address`` inside),
- runs peer processes inside it (``spawn`` / ``python``: ``ip netns exec``),
- and on ``drop()`` makes the namespace discard every packet in both
  directions, with no RST and no ICMP (iptables DROP inside the namespace,
  else nft, else ``tc netem loss 100%`` on both ends of the pair).

Rules live inside the namespace, so nothing on the host changes and deleting
the namespace removes them. Needs Linux, root and iproute2; the fixture skips
with the missing piece named, and fails instead under ``WSFAST_REQUIRE_NETNS=1``
(set by CI after it installs the tools).
"""

from __future__ import annotations

import contextlib
import os
import random
import secrets
import shutil
import subprocess
import sys
from typing import Iterator, List, Optional, Sequence

import pytest

from wsfast._env import env_flag

__all__ = ["DeadPeerLab", "dead_peer_lab", "netns_unavailable"]


def _run(argv: Sequence[str], check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(list(argv), capture_output=True, text=True, timeout=30)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({result.returncode}): {result.stderr.strip()}")
    return result


def netns_unavailable() -> Optional[str]:
    """Why a namespace cannot be made here (None when it can, as far as can be told cheaply)."""
    if not sys.platform.startswith("linux"):
        return "network namespaces are Linux-only"
    if os.geteuid() != 0:
        return "needs root (ip netns add, veth, iptables)"
    if shutil.which("ip") is None:
        return "needs iproute2's ip command"
    return None


class DeadPeerLab:
    """One namespace, one veth pair, the peer processes running inside, and the drop switch."""

    def __init__(self) -> None:
        token = secrets.token_hex(4)
        self.namespace = f"wsf{token}"
        self._host_if = f"wsf{token}h"
        self._peer_if = f"wsf{token}p"
        base = random.Random().randrange(0, 2**14) * 4  # a random /30 in 10.200.0.0/16
        prefix = f"10.200.{base >> 8}"
        self.host_address = f"{prefix}.{(base & 0xFF) + 1}"
        self.peer_address = f"{prefix}.{(base & 0xFF) + 2}"
        self.backend: Optional[str] = None
        self.dropping = False
        self._processes: List[subprocess.Popen] = []
        self._made_namespace = False
        self._made_link = False

    # -- setup / teardown

    def create(self) -> None:
        ns, host_if, peer_if = self.namespace, self._host_if, self._peer_if
        _run(["ip", "netns", "add", ns])
        self._made_namespace = True
        _run(["ip", "link", "add", host_if, "type", "veth", "peer", "name", peer_if])
        self._made_link = True
        _run(["ip", "link", "set", peer_if, "netns", ns])
        _run(["ip", "addr", "add", f"{self.host_address}/30", "dev", host_if])
        _run(["ip", "link", "set", host_if, "up"])
        self.exec_check(["ip", "addr", "add", f"{self.peer_address}/30", "dev", peer_if])
        self.exec_check(["ip", "link", "set", peer_if, "up"])
        self.exec_check(["ip", "link", "set", "lo", "up"])
        self.backend = self._pick_backend()

    def destroy(self) -> None:
        for proc in self._processes:
            if proc.poll() is None:
                proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(5)
            for stream in (proc.stdout, proc.stderr, proc.stdin):
                if stream is not None:
                    stream.close()
        if self._made_link:  # deleting one end deletes the pair
            _run(["ip", "link", "del", self._host_if], check=False)
        if self._made_namespace:
            _run(["ip", "netns", "del", self.namespace], check=False)

    # -- running things inside

    def exec_argv(self, argv: Sequence[str]) -> List[str]:
        return ["ip", "netns", "exec", self.namespace, *argv]

    def exec_check(self, argv: Sequence[str]) -> subprocess.CompletedProcess:
        return _run(self.exec_argv(argv))

    def spawn(self, argv: Sequence[str], **popen_options: object) -> subprocess.Popen:
        """Start a process inside the namespace (killed at teardown)."""
        options: dict = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}
        options.update(popen_options)
        proc = subprocess.Popen(self.exec_argv(argv), **options)
        self._processes.append(proc)
        return proc

    def python(self, code: str, *args: str, **popen_options: object) -> subprocess.Popen:
        """This interpreter (with this environment: same venv, same wsfast) inside the namespace."""
        return self.spawn([sys.executable, "-c", code, *args], **popen_options)

    # -- the drop switch

    _NFT_DROP = (
        "table inet wsfast_dead_peer {\n"
        "  chain input { type filter hook input priority -300; policy drop; }\n"
        "  chain output { type filter hook output priority -300; policy drop; }\n"
        "}\n"
    )

    def _backend_commands(self, backend: str, on: bool) -> List[List[str]]:
        if backend == "iptables":
            flag = "-I" if on else "-D"
            return [self.exec_argv(["iptables", flag, "INPUT", "-j", "DROP"]),
                    self.exec_argv(["iptables", flag, "OUTPUT", "-j", "DROP"])]
        if backend == "nft":
            if on:
                return [self.exec_argv(["nft", "-f", "-"])]  # fed _NFT_DROP on stdin
            return [self.exec_argv(["nft", "delete", "table", "inet", "wsfast_dead_peer"])]
        # netem: 100 % loss on the way out of each end of the pair
        verb = "add" if on else "del"
        return [["tc", "qdisc", verb, "dev", self._host_if, "root", "netem", "loss", "100%"],
                self.exec_argv(["tc", "qdisc", verb, "dev", self._peer_if, "root", "netem", "loss", "100%"])]

    def _switch(self, backend: str, on: bool) -> None:
        for argv in self._backend_commands(backend, on):
            stdin = self._NFT_DROP if backend == "nft" and on else None
            result = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=30)
            if result.returncode != 0:
                raise RuntimeError(f"{' '.join(argv)}: {result.stderr.strip()}")

    BACKENDS = {"iptables": "iptables", "nft": "nft", "netem": "tc"}  # backend: the tool it runs

    def use(self, backend: str) -> None:
        """Drop packets with this backend from now on; RuntimeError (saying why) if it does not
        work here. Tried on and off once."""
        if self.dropping:
            raise RuntimeError("restore() before switching backends")
        tool = self.BACKENDS[backend]
        if shutil.which(tool) is None:
            raise RuntimeError(f"{tool}: not installed")
        try:
            self._switch(backend, True)
            self._switch(backend, False)
        except subprocess.TimeoutExpired as exc:
            raise RuntimeError(f"{backend}: {exc}") from None
        self.backend = backend

    def _pick_backend(self) -> str:
        """The first way of dropping packets that works here."""
        errors = []
        for backend in self.BACKENDS:
            try:
                self.use(backend)
            except RuntimeError as exc:
                errors.append(f"{backend}: {exc}")
                continue
            return backend
        raise RuntimeError("no way to drop packets: " + "; ".join(errors))

    def drop(self) -> None:
        """From now on the peer is silent: nothing it sends leaves, nothing sent to it arrives."""
        assert self.backend is not None
        if not self.dropping:
            self._switch(self.backend, True)
            self.dropping = True

    def restore(self) -> None:
        assert self.backend is not None
        if self.dropping:
            self._switch(self.backend, False)
            self.dropping = False


def _unavailable(reason: str) -> None:
    if env_flag("WSFAST_REQUIRE_NETNS"):
        pytest.fail(f"WSFAST_REQUIRE_NETNS is set but there is no network namespace: {reason}")
    pytest.skip(f"dead-peer tests need a network namespace: {reason}")


@pytest.fixture
def dead_peer_lab() -> Iterator[DeadPeerLab]:
    """A fresh namespace and veth pair per test (see the module docstring)."""
    reason = netns_unavailable()
    if reason is not None:
        _unavailable(reason)
    lab = DeadPeerLab()
    try:
        lab.create()
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
        lab.destroy()
        _unavailable(str(exc))
    try:
        yield lab
    finally:
        lab.destroy()
