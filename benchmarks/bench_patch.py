"""Drop-in patches (wsfast.patch): each library's receive path patched vs unpatched, same process
(pytest-benchmark).

The same rows, drivers, ratio and targets as the in-process rows of ``python -m wsfast bench
patch`` (``wsfast/bench/patch.py``), whose table is printed at the end; that section also times
echo servers.

    python -m pytest benchmarks/bench_patch.py --benchmark-enable -q
"""

from __future__ import annotations

import pytest
from _summary import Summary

import wsfast.patch
from wsfast.bench import patch as section

pytest.importorskip("wsfast._stream_c")

SUMMARY = Summary(section, [(row, section.targets(row)) for row in section.SPEEDUPS])
COLUMNS = ["unpatched", "patched"]


@pytest.fixture(scope="module", autouse=True)
def _ratio_summary(request):
    yield
    SUMMARY.print(request)


@pytest.fixture(autouse=True)
def _unpatched_after():
    yield
    wsfast.patch.unpatch()


@pytest.mark.parametrize("column", COLUMNS)
@pytest.mark.parametrize("row", [section.WEBSOCKETS_TEXT, section.WEBSOCKETS_BINARY])
def test_websockets_sans_io(benchmark, row, column):
    pytest.importorskip("websockets.protocol")
    if row == section.WEBSOCKETS_TEXT:
        (chunks, count), max_size = section.small_text(), 2**20
    else:
        (chunks, count), max_size = section.big_binary(), None
    benchmark.group = row
    assert benchmark(section.websockets_driver(chunks, column == "patched", max_size)) == count
    SUMMARY.record(benchmark, row, column)


@pytest.mark.parametrize("column", COLUMNS)
def test_wsproto_frame_protocol(benchmark, column):
    pytest.importorskip("wsproto.frame_protocol")
    chunks, count = section.small_text()
    benchmark.group = section.WSPROTO_TEXT
    assert benchmark(section.wsproto_driver(chunks, column == "patched")) == count
    SUMMARY.record(benchmark, section.WSPROTO_TEXT, column)


@pytest.mark.parametrize("column", COLUMNS)
def test_websocket_client_recv(benchmark, column):
    pytest.importorskip("websocket")
    wire, text = section.websocket_client_text()
    benchmark.group = section.WEBSOCKET_CLIENT_TEXT
    assert benchmark(section.websocket_client_driver(wire, column == "patched")) == text
    SUMMARY.record(benchmark, section.WEBSOCKET_CLIENT_TEXT, column)
