"""UTF-8 validation: wsfast compiled vs its pure-Python twin vs ``bytes.decode("utf-8")``.

Decoding is what an application does without a validator (and what the pure
twin does internally), so it is the bar: the compiled validator has to beat it
on every text, including the 16-byte calls where only call overhead counts.
The text generator is shared with ``benchmarks/bench_utf8.py``.
"""

from __future__ import annotations

from typing import Dict, Iterator, Tuple

from wsfast.bench import Case, implementations

TITLE = "UTF-8 validation: validate_utf8 vs bytes.decode('utf-8')"
ORDER = 20

SIZES = [("16 B", 16), ("125 B", 125), ("1 KiB", 1024), ("64 KiB", 65536), ("1 MiB", 1 << 20),
         ("16 MiB", 16 << 20)]
QUICK_SIZES = SIZES[:5]
PURE_MAX = 1 << 20  # the pure-Python twin is skipped above this (it is bytes.decode plus overhead)

TEXTS = {
    "ascii": "The quick brown fox jumps over the lazy dog. 0123456789 ",
    "latin1": "Größenwahn café naïve Ærø façade déjà vu, señor. ",
    "cjk": "天地玄黄宇宙洪荒日月盈昃辰宿列张寒来暑往秋收冬藏闰余成岁律吕调阳",
    "emoji": "😀🎉👍🚀🌍🔥💡🧪🐍🦀",
}

RATIOS = [
    ("c", "decode", "c/decode"),
    ("c", "py", "c/py"),
]


def make_text(kind: str, size: int) -> bytes:
    """About `size` bytes of `kind` text, cut on a character boundary (valid UTF-8)."""
    unit = TEXTS[kind].encode()
    data = unit * (size // len(unit) + 1)
    cut = size
    while (data[cut] & 0xC0) == 0x80:
        cut -= 1
    return data[:cut]


def targets(kind: str, size: int) -> Dict[Tuple[str, str], float]:
    if kind == "ascii":
        return {("c", "decode"): 1.0}
    if size == 1 << 20:
        return {("c", "decode"): 4.0}
    return {}


def cases(quick: bool) -> Iterator[Case]:
    impls = implementations()
    c, py = impls.get("c"), impls.get("py")
    for kind in TEXTS:
        for name, size in QUICK_SIZES if quick else SIZES:
            data = make_text(kind, size)
            funcs = {
                "c": (c.validate_utf8, data) if c else None,
                "py": (py.validate_utf8, data) if py and size <= PURE_MAX else None,
                "decode": (bytes.decode, data),
            }
            yield Case(f"{kind} {name}", len(data), funcs, targets(kind, size), series=kind)
