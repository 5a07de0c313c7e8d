"""Choosing between the compiled hot path and its pure-Python twins.

Each part of the hot path is a pair of modules with the same public names:
a compiled one (``wsfast._<part>_c``) and its pure-Python reference
(``wsfast._<part>_py``). ``load("c")`` / ``load("python")`` return a namespace
holding one whole implementation, which is what the tests parametrize over;
``active()`` picks the one the package exports, honouring
WSFAST_NO_EXTENSIONS and WSFAST_REQUIRE_EXTENSIONS.
"""

from __future__ import annotations

import importlib
import types
from typing import Dict, Tuple

from ._env import env_flag

__all__ = ["PARTS", "load", "active"]

# part name -> names each pair of modules must both export
PARTS: Dict[str, Tuple[str, ...]] = {
    "mask": ("apply_mask", "apply_mask_inplace"),
    "utf8": ("validate_utf8", "decode_utf8", "Utf8Validator"),
    "frames": ("FrameParser", "encode_frame", "encode_message", "Compressor",
               "TextMessage", "BinaryMessage", "Ping", "Pong", "Close"),
    "stream": ("FrameReader",),
    "datapath": ("DataPath", "ListenerPath", "sort_events"),
}

_cache: Dict[str, types.SimpleNamespace] = {}


def load(kind: str) -> types.SimpleNamespace:
    """The whole implementation `kind` ("c" or "python"); ImportError if unavailable."""
    if kind not in ("c", "python"):
        raise ValueError(f"unknown implementation {kind!r}")
    cached = _cache.get(kind)
    if cached is not None:
        return cached
    suffix = "_c" if kind == "c" else "_py"
    impl = types.SimpleNamespace(name=kind)
    for part, names in PARTS.items():
        module = importlib.import_module(f"wsfast._{part}{suffix}")
        for name in names:
            setattr(impl, name, getattr(module, name))
    _cache[kind] = impl
    return impl


def active() -> types.SimpleNamespace:
    """The implementation the package exports: compiled unless WSFAST_NO_EXTENSIONS is set or
    it did not load (then ImportError under WSFAST_REQUIRE_EXTENSIONS, else the pure twins)."""
    if env_flag("WSFAST_NO_EXTENSIONS"):
        if env_flag("WSFAST_REQUIRE_EXTENSIONS"):
            raise ImportError("wsfast: WSFAST_NO_EXTENSIONS and WSFAST_REQUIRE_EXTENSIONS are both set")
        return load("python")
    try:
        return load("c")
    except ImportError as exc:
        if env_flag("WSFAST_REQUIRE_EXTENSIONS"):
            raise ImportError(
                f"wsfast: the compiled extensions are required (WSFAST_REQUIRE_EXTENSIONS) "
                f"but did not load: {exc}"
            ) from exc
        return load("python")
