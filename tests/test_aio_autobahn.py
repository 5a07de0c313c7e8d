"""Autobahn|Testsuite cases 1-7, 9 and 10 (301 cases) and the permessage-deflate cases 12.* and 13.*
up to 16 KiB (84 cases) through kosoku, against the wsfast server AND the wsfast client, with the
compiled AND the pure-Python hot path (the larger deflate cases: see DEFLATE_LARGE).

kosoku's ``run_fuzzingclient`` drives a server under test; ``run_fuzzingserver``
serves the cases to a client under test, which follows Autobahn's protocol
(``/getCaseCount``, ``/runCase?case=N``, ``/updateReports``). A case passes here
only when both verdicts are OK; NON-STRICT, FAILED, UNIMPLEMENTED and ERROR are
misses. The cases whose verdict is INFORMATIONAL by design (kosoku reports
nothing else for them: 7.1.6, 7.13.1, 7.13.2) are accepted as INFORMATIONAL.
Each run prints its summary (counts, groups, the slowest cases) in the output.
"""

from __future__ import annotations

import asyncio
import collections
import time
from typing import Any, List, Tuple

import pytest
from _aio_peers import require
from _aio_util import IMPLEMENTATIONS, impl_or_skip, run, wsfast_server

from wsfast._env import env_flag
from wsfast.asyncio import ConnectionClosed, connect

try:
    import kosoku
except ImportError:  # Python < 3.10, or not installed
    kosoku = None

CASES = ["1.*", "2.*", "3.*", "4.*", "5.*", "6.*", "7.*", "9.*", "10.*"]
EXPECTED_CASES = 301
# permessage-deflate: 12.* (the five data sets) and 13.* (the parameter combinations), each with 18
# message sizes; here those up to 16 KiB (cases 1-7). The larger ones (8-18, up to 128 KiB x 1000
# messages, ~11 GB each way in all) run against the compiled server in .ci/suites/autobahn_deflate.sh.
DEFLATE_SMALL = [f"{major}.{minor}.{n}" for major, minors in ((12, 5), (13, 7))
                 for minor in range(1, minors + 1) for n in range(1, 8)]
DEFLATE_LARGE = [f"{major}.{minor}.{n}" for major, minors in ((12, 5), (13, 7))
                 for minor in range(1, minors + 1) for n in range(8, 19)]
CASE_SETS = {"core": (CASES, EXPECTED_CASES), "deflate": (DEFLATE_SMALL, 84)}
MAX_SIZE = 64 * 1024 * 1024  # the 9.x cases send messages up to 16 MiB

pytestmark = [pytest.mark.slow, pytest.mark.parametrize("kind", IMPLEMENTATIONS)]


def require_kosoku() -> Any:
    require(kosoku is not None, "kosoku is not installed (pip install kosoku; Python >= 3.10)")
    return kosoku


def _kosoku_version() -> str:
    try:
        from importlib.metadata import version

        return version("kosoku")
    except Exception:
        return "?"


def verdict(result: Any) -> str:
    behavior, close = result.behavior.value, result.behavior_close.value
    if behavior == "OK" and close == "OK":
        return "OK"
    if behavior == "INFORMATIONAL" and close == "INFORMATIONAL":
        return "INFORMATIONAL"
    return "MISS"


def summarize(title: str, results: List[Any], seconds: float) -> str:
    counts = collections.Counter(
        (r.behavior.value, r.behavior_close.value) for r in results)
    lines = [f"Autobahn via kosoku {_kosoku_version()}: {title}: {len(results)} cases in {seconds:.1f} s"]
    lines.append("  verdicts (behavior, close): " + ", ".join(
        f"{b}/{c}: {n}" for (b, c), n in sorted(counts.items(), key=lambda kv: -kv[1])))
    groups: dict = collections.defaultdict(lambda: collections.Counter())
    for r in results:
        groups[r.case_id.split(".")[0]][verdict(r)] += 1
    lines.append("  by group: " + "; ".join(
        f"{g}: " + " ".join(f"{v} {n}" for v, n in sorted(c.items()))
        for g, c in sorted(groups.items(), key=lambda kv: int(kv[0]))))
    for r in results:
        if verdict(r) != "OK":
            lines.append(f"  {r.case_id}: {r.behavior.value}/{r.behavior_close.value} - {r.result} "
                         f"{r.result_close}")
    slowest = sorted(results, key=lambda r: -r.duration)[:5]
    lines.append("  slowest: " + ", ".join(f"{r.case_id} {r.duration} ms" for r in slowest))
    return "\n".join(lines)


def check(title: str, results: List[Any], seconds: float, capsys: Any, expected: int) -> None:
    report = summarize(title, results, seconds)
    with capsys.disabled():
        print("\n" + report)
    assert len(results) == expected, report
    misses = [r.case_id for r in results if verdict(r) == "MISS"]
    assert not misses, f"cases not OK: {misses}\n{report}"


async def autobahn_echo(ws: Any) -> None:
    try:
        async for message in ws:
            await ws.send(message)
    except ConnectionClosed:
        pass


def serve_cases(kind: str, cases: List[str], timeout: float) -> Tuple[List[Any], float]:
    ks = require_kosoku()

    async def main():
        async with wsfast_server(autobahn_echo, impl=kind, max_message_size=MAX_SIZE, ping_interval=None,
                                 close_timeout=5) as (server, url):
            started = time.perf_counter()
            try:
                results = await ks.run_fuzzingclient(url, cases, concurrency=4)
            except ks.FailureError as failure:
                results = failure.results
            return results, time.perf_counter() - started

    return run(main(), timeout)  # type: ignore[no-any-return]


@pytest.mark.parametrize("case_set", list(CASE_SETS))
def test_autobahn_wsfast_server(kind, case_set, capsys):
    cases, expected = CASE_SETS[case_set]
    results, seconds = serve_cases(kind, cases, 600)
    check(f"wsfast server, {kind} hot path, {case_set} cases", results, seconds, capsys, expected)


@pytest.mark.skipif(not env_flag("WSFAST_AUTOBAHN_DEFLATE_LARGE"),
                    reason="long (~11 GB each way): .ci/suites/autobahn_deflate.sh runs it "
                           "(WSFAST_AUTOBAHN_DEFLATE_LARGE=1)")
def test_autobahn_deflate_large_cases_compiled_server(kind, capsys):
    if kind != "c":
        pytest.skip("the large compression cases run against the compiled server")
    results, seconds = serve_cases(kind, DEFLATE_LARGE, 3600)
    check("wsfast server, c hot path, deflate cases 12.*.8-18 and 13.*.8-18", results, seconds, capsys,
          len(DEFLATE_LARGE))


async def drive_cases(base: str, kind: str) -> None:
    """The Autobahn client protocol, with a wsfast echo client for each case."""
    impl = impl_or_skip(kind)
    async with connect(base + "/getCaseCount", implementation=impl) as ws:
        count = int(await ws.recv())
    for case in range(1, count + 1):
        try:
            ws = await connect(f"{base}/runCase?case={case}&agent=wsfast-{kind}", implementation=impl,
                               max_message_size=MAX_SIZE, ping_interval=None, close_timeout=5)
        except (OSError, asyncio.TimeoutError, ConnectionClosed):
            continue
        try:
            async for message in ws:
                await ws.send(message)
        except ConnectionClosed:
            pass
        await ws.wait_closed()
    async with connect(f"{base}/updateReports?agent=wsfast-{kind}", implementation=impl) as ws:
        pass


@pytest.mark.parametrize("case_set", list(CASE_SETS))
def test_autobahn_wsfast_client(kind, case_set, capsys):
    ks = require_kosoku()
    cases, expected = CASE_SETS[case_set]

    async def main():
        started = time.perf_counter()
        async with ks.run_fuzzingserver(cases, host="127.0.0.1", port=0) as fuzzer:
            await drive_cases(f"ws://{fuzzer.address}:{fuzzer.port}", kind)
            try:
                results = await asyncio.wait_for(fuzzer.get_result(), 60)
            except ks.FailureError as failure:
                results = failure.results
        return results, time.perf_counter() - started

    results, seconds = run(main(), 600)
    check(f"wsfast client, {kind} hot path, {case_set} cases", results, seconds, capsys, expected)
