"""Autobahn|Testsuite (through kosoku) against a raw ASGI echo app served by uvicorn with
wsfast.uvicorn.WSFastProtocol, on the compiled and the pure-Python hot path: cases 1-7, 9 and 10
(301 cases, compression off), and the 84 permessage-deflate cases of sections 12 and 13 whose
messages are at most 16 KiB (12.1-12.5 and 13.1-13.7, cases 1 to 7 of each: 16 B to 16 KiB, 1,000
messages per case, every parameter combination of section 13).

Verdicts and the report are those of tests/test_aio_autobahn.py: a case passes only when its
behaviour and its close are both OK (INFORMATIONAL where that is all kosoku reports).
"""

from __future__ import annotations

import time
from typing import Any, List

import pytest
from _aio_util import run
from _uvicorn_util import raw_echo_app, uvicorn_server
from test_aio_autobahn import (
    CASES,
    DEFLATE_SMALL,
    EXPECTED_CASES,
    MAX_SIZE,
    require_kosoku,
    summarize,
    verdict,
)

pytestmark = [pytest.mark.slow, pytest.mark.parametrize("kind", ["c", "python"])]



def fuzz(kind: str, cases: List[str], deflate: bool) -> Any:
    ks = require_kosoku()

    async def main():
        async with uvicorn_server(raw_echo_app, kind, "h11", ws_max_size=MAX_SIZE, ws_ping_interval=None,
                                  ws_per_message_deflate=deflate) as (server, url):
            started = time.perf_counter()
            try:
                results = await ks.run_fuzzingclient(url, cases, concurrency=4)
            except ks.FailureError as failure:
                results = failure.results
            return results, time.perf_counter() - started

    return run(main(), 900)


def check(title: str, results: List[Any], seconds: float, expected: int, capsys: Any) -> None:
    report = summarize(title, results, seconds)
    with capsys.disabled():
        print("\n" + report)
    assert len(results) == expected, report
    misses = [r.case_id for r in results if verdict(r) == "MISS"]
    assert not misses, f"cases not OK: {misses}\n{report}"


def test_autobahn_uvicorn(kind, capsys):
    results, seconds = fuzz(kind, CASES, deflate=False)
    check(f"uvicorn + wsfast.uvicorn.WSFastProtocol, {kind} hot path", results, seconds, EXPECTED_CASES,
          capsys)


def test_autobahn_uvicorn_permessage_deflate(kind, capsys):
    assert len(DEFLATE_SMALL) == 84
    results, seconds = fuzz(kind, DEFLATE_SMALL, deflate=True)
    check(f"uvicorn + wsfast.uvicorn.WSFastProtocol, permessage-deflate up to 16 KiB, {kind} hot path",
          results, seconds, 84, capsys)
