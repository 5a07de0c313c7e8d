"""websocket-client: masking and UTF-8 validation.

Without the unmaintained wsaccel, websocket-client validates received text
with a byte-at-a-time DFA in Python (about 1 s for 1 MiB) and masks through
``array.array`` and big-int arithmetic. Replaced: ``ABNF.mask`` (a
staticmethod, kept one) and ``websocket._utils._validate_utf8``, the bytes
validator behind the public ``validate_utf8`` (which ``websocket._abnf`` binds
by name at import time, and which encodes a str argument first: kept as is).

websocket-client's ``validate_utf8`` (its DFA, and wsaccel's ``validate()[0]``)
answers whether the bytes can *start* valid UTF-8: a sequence cut at the end
passes. The replacement keeps that answer (an incremental validator's
``feed``), so behaviour is unchanged; a text message cut inside a character
then fails in ``recv()``'s decode, as it does unpatched.
"""

from __future__ import annotations

from typing import Any, Callable, List, Optional, Tuple, Union

from ._core import Target

TESTED = ("1.9.2",)


def _make_mask(apply_mask: Callable[[Any, bytes], bytes]) -> Callable[..., bytes]:
    def mask(mask_key: Union[str, bytes], data: Optional[Union[str, bytes]]) -> bytes:
        """ABNF.mask(mask_key, data): the XOR of data with the 4-byte key (str as latin-1, as before)."""
        if data is None:
            data = b""
        if isinstance(mask_key, str):
            mask_key = mask_key.encode("latin-1")
        if isinstance(data, str):
            data = data.encode("latin-1")
        return apply_mask(data, mask_key)

    return mask


def _make_validate(validator: Callable[[], Any]) -> Callable[[Union[str, bytes]], bool]:
    def _validate_utf8(utfbytes: Union[str, bytes]) -> bool:
        """True unless the bytes cannot start valid UTF-8 (websocket-client's own semantics)."""
        return bool(validator().feed(utfbytes))

    return _validate_utf8


def _plan(impl: Any) -> List[Tuple[Any, str, Any]]:
    import websocket._abnf
    import websocket._utils

    return [
        (websocket._abnf.ABNF, "mask", staticmethod(_make_mask(impl.apply_mask))),
        (websocket._utils, "_validate_utf8", _make_validate(impl.Utf8Validator)),
    ]


TARGET = Target("websocket_client", "websocket", "websocket-client", TESTED, _plan)
