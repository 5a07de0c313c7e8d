"""websockets: masking (and, in the sans-I/O protocol, the frame parser).

``websockets.frames`` binds ``apply_mask`` at import time (from its own C
speedup when built), so the module's name is what is replaced;
``websockets.legacy.framing`` likewise, when the application imported it
(the patch never imports the deprecated legacy package itself: that import
warns).
"""

from __future__ import annotations

from typing import Any, List, Tuple

from ._core import Target, loaded_module

TESTED = ("17.0.1", "17.4")


def _plan(impl: Any) -> List[Tuple[Any, str, Any]]:
    import websockets.frames

    triples: List[Tuple[Any, str, Any]] = [(websockets.frames, "apply_mask", impl.apply_mask)]
    legacy = loaded_module("websockets.legacy.framing")
    if legacy is not None:
        triples.append((legacy, "apply_mask", impl.apply_mask))
    return triples


TARGET = Target("websockets", "websockets", "websockets", TESTED, _plan)
