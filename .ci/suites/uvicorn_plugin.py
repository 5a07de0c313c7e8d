"""pytest plugin for uvicorn's own test suite run against wsfast.uvicorn.WSFastProtocol.

Loaded by ``.ci/suites/uvicorn.sh`` (``-p uvicorn_plugin``) in uvicorn's sdist,
whose ``tests/conftest.py`` gets one more ``ws_protocol_cls`` parameter from
``uvicorn.patch`` (wsfast's class). It keeps the tests that take
``ws_protocol_cls``, for the classes named in ``WSFAST_SUITE_CLASSES`` (comma-separated ids:
``wsfast`` (default), ``wsproto``, ``websockets-sansio``) and the HTTP protocols in
``WSFAST_SUITE_HTTP`` (comma-separated; default all), and deselects for wsfast's
class the tests listed in ``uvicorn.exclude``, each with its reason. The counts
(per class, and excluded) are printed at the end.
"""

from __future__ import annotations

import collections
import json
import os
from pathlib import Path
from typing import Any, Dict, List

HERE = Path(__file__).resolve().parent
COUNTS = Path(os.environ.get("WSFAST_SUITE_COUNTS", "wsfast-suite-counts.json"))
CLASSES = {
    "wsfast.uvicorn:WSFastProtocol": "wsfast",
    "uvicorn.protocols.websockets.wsproto_impl:WSProtocol": "wsproto",
    "uvicorn.protocols.websockets.websockets_sansio_impl:WebSocketsSansIOProtocol": "websockets-sansio",
}
HTTP = {
    "uvicorn.protocols.http.httptools_impl:HttpToolsProtocol": "httptools",
    "uvicorn.protocols.http.h11_impl:H11Protocol": "h11",
    "uvicorn.protocols.http.zttp_impl:ZttpProtocol": "zttp",
}


def excluded() -> Dict[str, str]:
    """test function name -> reason, from uvicorn.exclude: "name  # reason" lines apply to every
    run, "uvloop: name  # reason" lines to the uvloop run only (and to every class: they are what
    the test itself cannot do on uvloop)."""
    uvloop = os.environ.get("WSFAST_SUITE_UVLOOP") == "1"
    reasons: Dict[str, str] = {}
    for line in (HERE / "uvicorn.exclude").read_text().splitlines():
        name, _, reason = line.partition("#")
        name = name.strip()
        if name.startswith("uvloop:"):
            if not uvloop:
                continue
            name = name[len("uvloop:"):].strip()
        if name:
            reasons[name] = reason.strip()
    return reasons


def _param(item: Any, fixture: str, names: Dict[str, str]) -> str:
    callspec = getattr(item, "callspec", None)
    if callspec is None or fixture not in callspec.params:
        return ""
    value = callspec.params[fixture]
    return names.get(value, str(value))


def pytest_collection_modifyitems(config: Any, items: List[Any]) -> None:
    classes = os.environ.get("WSFAST_SUITE_CLASSES", "wsfast").split(",")
    https = [h for h in os.environ.get("WSFAST_SUITE_HTTP", "").split(",") if h]
    skip = excluded()
    keep: List[Any] = []
    drop: List[Any] = []
    counts: Dict[str, int] = collections.Counter()
    for item in items:
        cls = _param(item, "ws_protocol_cls", CLASSES)
        http = _param(item, "http_protocol_cls", HTTP)
        if not cls or cls not in classes or (https and http and http not in https):
            drop.append(item)
            continue
        if cls == "wsfast" and item.originalname in skip:
            counts["wsfast, excluded"] += 1
            drop.append(item)
            continue
        counts[cls] += 1
        keep.append(item)
    items[:] = keep
    config.hook.pytest_deselected(items=drop)
    COUNTS.write_text(json.dumps(counts))  # every xdist worker collects the same; the controller prints


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: Any) -> None:
    if not COUNTS.exists():
        return
    counts = json.loads(COUNTS.read_text())
    terminalreporter.write_line("wsfast suite selection: tests taking ws_protocol_cls: " + ", ".join(
        f"{name} {n}" for name, n in sorted(counts.items())))
    for name, reason in sorted(excluded().items()):
        terminalreporter.write_line(f"  excluded for wsfast: {name}: {reason}")
