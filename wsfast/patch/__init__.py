"""Drop-in speedups: wsfast's compiled hot path switched in under other libraries.

::

    import wsfast.patch
    record = wsfast.patch.websockets()      # a PatchRecord, or None if refused
    ...
    wsfast.patch.unpatch()                  # every original object put back

Each of :func:`websockets`, :func:`wsproto`, :func:`tornado` and
:func:`websocket_client` replaces what costs that library time, and returns
a :class:`PatchRecord` of what it replaced; calling it again returns the same
record. A patch is refused, with a :class:`PatchWarning` and nothing changed,
when the installed version is not one it was tested with (``TESTED``), or when
only the pure-Python twins are available (they would slow the library down).
The library must be importable (ImportError otherwise).

Without touching the application's code: ``python -m wsfast.patch [--only
LIB,...] (-m MODULE | SCRIPT) [ARGS...]`` applies the patches, then runs the
program as ``python -m MODULE`` / ``python SCRIPT`` would.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Tuple

from . import _tornado, _websocket_client, _websockets, _wsproto
from ._core import PatchRecord, PatchWarning, Replacement, Target, active_records, apply
from ._core import unpatch as _unpatch

__all__ = [
    "websockets",
    "wsproto",
    "tornado",
    "websocket_client",
    "unpatch",
    "patched",
    "TARGETS",
    "TESTED",
    "PatchRecord",
    "PatchWarning",
    "Replacement",
]

TARGETS: Dict[str, Target] = {
    t.library: t for t in (_websockets.TARGET, _wsproto.TARGET, _tornado.TARGET, _websocket_client.TARGET)
}
# library -> the versions each patch was tested with; any other is refused
TESTED: Dict[str, Tuple[str, ...]] = {name: t.tested for name, t in TARGETS.items()}


def websockets() -> Optional[PatchRecord]:
    """websockets: ``Protocol.parse`` on wsfast's per-frame reader, and ``apply_mask`` (see docs/patch.md)."""
    return apply(TARGETS["websockets"])


def wsproto() -> Optional[PatchRecord]:
    """wsproto: ``FrameProtocol``'s receive path on wsfast's reader, and ``XorMaskerSimple``."""
    return apply(TARGETS["wsproto"])


def tornado() -> Optional[PatchRecord]:
    """tornado: ``_websocket_mask`` in ``tornado.util`` and ``tornado.websocket``."""
    return apply(TARGETS["tornado"])


def websocket_client() -> Optional[PatchRecord]:
    """websocket-client: ``ABNF.mask`` and the UTF-8 validator (``websocket._utils._validate_utf8``)."""
    return apply(TARGETS["websocket_client"])


def unpatch(library: Optional[str] = None) -> List[PatchRecord]:
    """Undo the patch of `library` ("websockets", ...), or of all; returns the records undone."""
    if library is not None and library not in TARGETS:
        raise ValueError(f"unknown library {library!r}; one of {', '.join(TARGETS)}")
    return _unpatch(library)


def patched() -> Dict[str, PatchRecord]:
    """The patches in force, by library."""
    return active_records()
