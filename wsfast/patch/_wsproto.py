"""wsproto: masking (and the frame protocol's receive path).

``XorMaskerSimple`` masks with four ``bytes.translate`` passes; the
replacement is a subclass (isinstance still holds) whose ``process()`` XORs in
C and keeps wsproto's contract: a new bytearray back, the key rotated so the
next chunk of the same frame continues where this one stopped.
"""

from __future__ import annotations

from typing import Any, List, Tuple

from ._core import Target

TESTED = ("1.3.2",)


def _masker(base: Any, apply_mask_inplace: Any) -> Any:
    class XorMaskerSimple(base):  # type: ignore[misc]
        __doc__ = base.__doc__

        def process(self, data: Any) -> bytearray:
            out = bytearray(data)
            if out:
                key: Any = self._masking_key  # type: ignore[has-type]
                apply_mask_inplace(out, key if type(key) is bytes else bytes(key))
                turn = len(out) & 3
                if turn:
                    self._masking_key = key[turn:] + key[:turn]
            return out

    XorMaskerSimple.__module__ = base.__module__
    XorMaskerSimple.__qualname__ = base.__qualname__
    return XorMaskerSimple


def _plan(impl: Any) -> List[Tuple[Any, str, Any]]:
    import wsproto.frame_protocol as fp

    return [(fp, "XorMaskerSimple", _masker(fp.XorMaskerSimple, impl.apply_mask_inplace))]


TARGET = Target("wsproto", "wsproto", "wsproto", TESTED, _plan)
