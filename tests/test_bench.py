"""The benchmark runner's probes and picture, and the raw-socket client against a real server.

Figures are never checked (speed is shown by benchmarks, not tests): these
tests check that probe rows are built from the medians of what the probes
return, that ``--plot`` writes a picture, and that the server benchmark's
client speaks correct WebSocket to a real wsfast echo server in another
process and reads its CPU time and memory; and that the broadcast section
refuses to time a call that did not write to every connection.
"""

from __future__ import annotations

import io
import json
import os
import types

import pytest

from wsfast import bench
from wsfast.bench import Case


def _section(cases, notes=()):
    module = types.SimpleNamespace(TITLE="t", RATIOS=[("a", "b", "a/b")], cases=lambda quick: iter(cases),
                                   notes=lambda: list(notes))
    return module


def test_probe_rows_are_medians_per_metric():
    samples = {"a": iter([{"t": 30.0, "m": 4096.0}, {"t": 10.0, "m": 1024.0}, {"t": 20.0, "m": 2048.0}]),
               "b": iter([{"t": 40.0, "m": 1.0}] * 3)}
    case = Case("row", 64, {"a": lambda: next(samples["a"]), "b": lambda: next(samples["b"]), "c": None},
                {("a", "b"): 1.5}, probe=True, metrics=[("t", "time", "ns"), ("m", "memory", "B")], repeats=3)
    out = io.StringIO()
    result = bench.run_section("x", _section([case], notes=["a note"]), bench.Settings.for_mode(True), out)
    time_row, memory_row = result["rows"]
    assert time_row["name"] == "row, time" and memory_row["name"] == "row, memory"
    assert time_row["results"]["a"]["value"] == 20.0 and time_row["results"]["a"]["best_ns"] == 10.0
    assert memory_row["results"]["a"]["value"] == 2048.0 and memory_row["unit"] == "B"
    assert time_row["ratios"]["a/b"] == 2.0
    assert time_row["targets"][0]["met"] is True and memory_row["targets"] == []
    assert "c" not in time_row["results"]
    text = out.getvalue()
    assert "2.0 KiB" in text and "20.0 ns" in text and "a note" in text


def test_probe_error_is_reported_not_fatal():
    def broken():
        raise OSError("refused")

    case = Case("row", 0, {"a": broken, "b": lambda: {"t": 1.0}}, probe=True, metrics=[("t", "time", "ns")])
    result = bench.run_section("x", _section([case]), bench.Settings.for_mode(True), io.StringIO())
    assert result["errors"] == ["row, time / a: OSError: refused"]
    assert result["rows"][0]["results"]["b"]["value"] == 1.0


def test_plot_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    from wsfast.bench._plot import plot

    rows = [{"name": f"{n} B", "size": n, "msg_size": n, "series": None, "unit": "ns",
             "results": {"c": {"best_ns": n / 10.0}, "py": {"best_ns": float(n)}}} for n in (16, 1024, 65536)]
    payload = {"machine": {"cpu": "test cpu", "cpus": 2}, "quick": True,
               "sections": [{"section": "mask", "rows": rows}, {"section": "echo", "rows": rows}]}
    path = tmp_path / "bench.png"
    plot(payload, str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    json_path = tmp_path / "bench.json"
    json_path.write_text(json.dumps(payload))
    args = types.SimpleNamespace(list=False, from_json=str(json_path), plot=str(tmp_path / "again.png"))
    assert bench.main(args) == 0
    assert (tmp_path / "again.png").stat().st_size > 0


@pytest.mark.parametrize("kind", ["asyncio", "wsfast"])
def test_raw_client_against_a_real_server(kind):
    from wsfast.bench import memory, server

    target = server._Target(kind)
    try:
        for pattern, size in (("saturated", 64), ("saturated", 300_000), ("in flight", 64)):
            payload = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
            server._check(target, pattern, payload)  # raises unless the echo is exact
            sample = server._probe(target, pattern, payload, 20)()
            assert sample["cpu"] > 0 and sample["wall"] > 0 and 0 <= sample["sys"] <= sample["cpu"]
        stats = target.server.stats()
        assert stats["rss"] > 0 and stats["user"] > 0
    finally:
        target.close()
    # 30 connections, each through the handshake and one echo (it raises if one fails)
    assert set(memory._probe(kind, 30, False)()) == {"rss"}



@pytest.mark.skipif(not hasattr(os, "sched_setaffinity") or len(os.sched_getaffinity(0)) < 2,
                    reason="pinning needs Linux and two CPUs")
def test_server_probes_pin_both_ends_and_give_the_cpus_back(monkeypatch):
    """Saturated probes run the server and the client on two CPUs, one in flight on one; the
    client thread's own affinity is what it was afterwards; WSFAST_BENCH_PIN=0 turns it off."""
    from wsfast.bench import server

    cpus = sorted(os.sched_getaffinity(0))
    assert server.placement("saturated") == (cpus[1], cpus[0])
    assert server.placement("in flight") == (cpus[0], cpus[0])
    mine = os.sched_getaffinity(0)
    target = server._Target("asyncio")
    seen = []
    try:
        theirs = os.sched_getaffinity(target.server.proc.pid)
        real_stats = target.server.stats

        def stats(command: str = "stats"):
            seen.append((os.sched_getaffinity(0), os.sched_getaffinity(target.server.proc.pid)))
            return real_stats(command)

        monkeypatch.setattr(target.server, "stats", stats)
        server._probe(target, "saturated", b"x" * 64, 20)()
        server._probe(target, "in flight", b"x" * 64, 20)()
        assert seen[0] == ({cpus[0]}, {cpus[1]}) and seen[2] == ({cpus[0]}, {cpus[0]})
        assert os.sched_getaffinity(0) == mine
        assert os.sched_getaffinity(target.server.proc.pid) == theirs
    finally:
        target.close()
    monkeypatch.setenv("WSFAST_BENCH_PIN", "0")
    assert server.placement("saturated") is None

def test_broadcast_bench_times_only_calls_that_reach_every_connection():
    """The broadcast section's timed call is refused when it did not write the frame to every
    connection within the call (a connection skipped, bytes left in a transport's buffer), so a
    shortcut is never timed; and it starts from drained connections."""
    import asyncio

    from wsfast.asyncio import broadcast
    from wsfast.bench import broadcast as section

    loop = asyncio.new_event_loop()
    audience = section.Audience(loop, count=8)
    message = b"\x00" * 64
    frame = section.frame_of(message)
    try:
        audience.open(with_websockets=False)
        floor = (section.write_each, audience.transports(), frame)
        for timed in [(broadcast, audience.wsfast, message), floor]:
            assert audience.timed_call("wsfast", timed, len(frame)) >= 0
        # more than loopback's socket buffers take at once (the client cannot read while the loop
        # is stopped): the rest stays in the transport's buffer, the call did not finish its write
        big = b"\x00" * (64 << 20)

        def overflow() -> None:
            audience.transports()[0].write(big)

        with pytest.raises(RuntimeError, match="left in the transports' buffers"):
            audience.timed_call("wsfast", (overflow,), len(big))
        audience.drain()  # the client reads it all, the buffer empties
        assert audience.timed_call("wsfast", (broadcast, audience.wsfast, message), len(frame)) >= 0
        # a connection that broadcast() skips (closed): the count it returns gives it away
        loop.run_until_complete(audience.wsfast[5].close())
        with pytest.raises(RuntimeError, match="wrote to 7 of 8"):
            audience.timed_call("wsfast", (broadcast, audience.wsfast, message), len(frame))
    finally:
        audience.close()
        loop.close()
