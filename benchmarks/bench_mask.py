"""Masking: compiled vs pure Python vs aiohttp and websockets (pytest-benchmark).

One group per size, with the rows, columns, ratios and targets of ``python -m
wsfast bench mask`` (wsfast/bench/mask.py: what is compared with what, and
why), printed at the end.

pytest-benchmark calls ``target(*args, **kwargs)``, which costs ~20 ns per
call on top of a ~20 ns masking call (and ~6 ns less for Cython
cyfunctions such as aiohttp's masker than for builtins such as ours), so the
16 B and 125 B ratios here are compressed; ``python -m wsfast bench mask``
calls each function directly from a generated loop and is the reference for
the short-payload targets.

    python -m pytest benchmarks/bench_mask.py --benchmark-enable -q
"""

from __future__ import annotations

import os
import time

import pytest
from _summary import Summary

from wsfast.bench import implementations, peer
from wsfast.bench import mask as section

KEY = b"\x37\xfa\x21\x3d"


def _load():
    """column -> (function, how it is called)"""
    found = {}
    for label, impl in implementations().items():
        found[label] = (impl.apply_mask, "new")
        found[f"{label} inplace"] = (impl.apply_mask_inplace, "inplace")
    aiohttp_mask = peer("aiohttp._websocket.mask", "_websocket_mask_cython")
    if aiohttp_mask is not None:
        found["aiohttp inplace"] = (aiohttp_mask, "aiohttp")
    websockets_mask = peer("websockets.speedups", "apply_mask")
    if websockets_mask is not None:
        found["websockets"] = (websockets_mask, "new")
    found["bytes copy"] = (bytes, "copy")
    return found


IMPLS = _load()
COLUMNS = ["c", "c inplace", "py", "py inplace", "aiohttp inplace", "websockets", "bytes copy"]
SUMMARY = Summary(section, [(name, section.targets(size)) for name, size in section.SIZES])


@pytest.fixture(scope="module", autouse=True)
def _ratio_summary(request):
    yield
    SUMMARY.print(request)


def _run(benchmark, func, args):
    """benchmark.pedantic with a loop count calibrated here (rounds of ~2 ms): pytest-benchmark's
    own calibration sometimes settles on 1 iteration per round for ~50 ns calls, which then
    measures the timer instead of the call."""
    if benchmark.disabled:
        return func(*args)
    loops = 1
    while True:
        start = time.perf_counter()
        for _ in range(loops):
            func(*args)
        elapsed = time.perf_counter() - start
        if elapsed >= 0.002:
            break
        loops *= 2 if elapsed > 0.0002 else 10
    rounds = max(5, min(200, int(0.5 / elapsed)))
    return benchmark.pedantic(func, args=args, iterations=loops, rounds=rounds, warmup_rounds=1)


@pytest.mark.parametrize("column", COLUMNS)
@pytest.mark.parametrize("size_name,size", section.SIZES, ids=[name for name, _ in section.SIZES])
def test_mask(benchmark, size_name, size, column):
    if column not in IMPLS:
        pytest.skip(f"{column} unavailable")
    func, kind = IMPLS[column]
    if column.startswith("py") and size > section.PURE_MAX and not benchmark.disabled:
        pytest.skip("the pure-Python twin above 1 MiB: too slow to be interesting")
    benchmark.group = f"mask {size_name}"
    data = os.urandom(size)
    buf = bytearray(data)
    args = {"new": (data, KEY), "inplace": (buf, KEY), "aiohttp": (KEY, buf), "copy": (buf,)}[kind]
    result = _run(benchmark, func, args)
    if kind == "new":
        assert len(result) == size
    elif kind == "inplace":
        assert result == size
    elif kind == "copy":
        assert result == buf
    SUMMARY.record(benchmark, size_name, column)
