"""tornado: masking, where tornado reads it.

``tornado.util._websocket_mask(mask, data)`` is bound by name into
``tornado.websocket`` at import time, so both names are replaced. The
replacement is a C builtin taking the key first (tornado's order), so a call
costs no Python frame: tornado's own speedup is C as well, and a slower small
call would be a regression.
"""

from __future__ import annotations

from typing import Any, List, Tuple

from ._core import Target

TESTED = ("6.6.1",)


def _plan(impl: Any) -> List[Tuple[Any, str, Any]]:
    import tornado.util
    import tornado.websocket

    from .._mask_c import mask_key_first

    return [
        (tornado.util, "_websocket_mask", mask_key_first),
        (tornado.websocket, "_websocket_mask", mask_key_first),
    ]


TARGET = Target("tornado", "tornado", "tornado", TESTED, _plan)
