"""Masking: wsfast compiled vs its pure-Python twin vs aiohttp and websockets.

Like is compared with like: our in-place form against aiohttp's in-place
masker (both XOR a bytearray), our apply_mask against websockets' (both return
new bytes), and apply_mask against a plain ``bytes(bytearray)`` copy, the floor
for anything that must write a new object.
"""

from __future__ import annotations

import os
from typing import Dict, Iterator, Tuple

from wsfast.bench import Case, implementations, peer

TITLE = "Masking: apply_mask (new bytes) / apply_mask_inplace (bytearray)"
ORDER = 10

SIZES = [("16 B", 16), ("125 B", 125), ("1 KiB", 1024), ("64 KiB", 65536), ("1 MiB", 1 << 20),
         ("16 MiB", 16 << 20)]
QUICK_SIZES = SIZES[:5]
PURE_MAX = 1 << 20  # the pure-Python twin is skipped above this (it would dominate the run time)

# (a, b, header): how many times faster column a is than column b
RATIOS = [
    ("c inplace", "aiohttp inplace", "inpl/aiohttp"),
    ("c", "websockets", "c/websockets"),
    ("c", "bytes copy", "c/copy"),
    ("c", "py", "c/py"),
    ("c inplace", "py inplace", "inpl/py-inpl"),
]


def targets(size: int) -> Dict[Tuple[str, str], float]:
    targets = {}
    if size <= 125:
        targets[("c inplace", "aiohttp inplace")] = 1.5
    elif size <= 1 << 20:
        targets[("c inplace", "aiohttp inplace")] = 1.2
        targets[("c", "websockets")] = 1.2
    else:
        targets[("c", "bytes copy")] = 0.9
    if size == 1024:
        targets[("c", "py")] = 20.0
    return targets


def cases(quick: bool) -> Iterator[Case]:
    impls = implementations()
    c, py = impls.get("c"), impls.get("py")
    aiohttp_mask = peer("aiohttp._websocket.mask", "_websocket_mask_cython", label="aiohttp inplace")
    websockets_mask = peer("websockets.speedups", "apply_mask", label="websockets")
    key = b"\x37\xfa\x21\x3d"
    for name, size in QUICK_SIZES if quick else SIZES:
        data = os.urandom(size)
        buf = bytearray(data)
        funcs = {
            "c": (c.apply_mask, data, key) if c else None,
            "c inplace": (c.apply_mask_inplace, buf, key) if c else None,
            "py": (py.apply_mask, data, key) if py and size <= PURE_MAX else None,
            "py inplace": (py.apply_mask_inplace, bytearray(data), key) if py and size <= PURE_MAX else None,
            "aiohttp inplace": (aiohttp_mask, key, bytearray(data)) if aiohttp_mask else None,
            "websockets": (websockets_mask, data, key) if websockets_mask else None,
            "bytes copy": (bytes, buf),
        }
        yield Case(name, size, funcs, targets(size))
