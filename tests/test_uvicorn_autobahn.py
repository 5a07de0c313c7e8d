"""Autobahn|Testsuite cases 1-7, 9 and 10 (301 cases, through kosoku) against a raw ASGI echo app
served by uvicorn with wsfast.uvicorn.WSFastProtocol, on the compiled and the pure-Python hot path.

Verdicts and the report are those of tests/test_aio_autobahn.py: a case passes only when its
behaviour and its close are both OK (INFORMATIONAL where that is all kosoku reports).
"""

from __future__ import annotations

import time

import pytest
from _aio_util import run
from _uvicorn_util import raw_echo_app, uvicorn_server
from test_aio_autobahn import CASES, MAX_SIZE, check, require_kosoku

pytestmark = [pytest.mark.slow, pytest.mark.parametrize("kind", ["c", "python"])]


def test_autobahn_uvicorn(kind, capsys):
    ks = require_kosoku()

    async def main():
        async with uvicorn_server(raw_echo_app, kind, "h11", ws_max_size=MAX_SIZE, ws_ping_interval=None,
                                  ws_per_message_deflate=False) as (server, url):
            started = time.perf_counter()
            try:
                results = await ks.run_fuzzingclient(url, CASES, concurrency=4)
            except ks.FailureError as failure:
                results = failure.results
            return results, time.perf_counter() - started

    results, seconds = run(main(), 600)
    check(f"uvicorn + wsfast.uvicorn.WSFastProtocol, {kind} hot path", results, seconds, capsys)
