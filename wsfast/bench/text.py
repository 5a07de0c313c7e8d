"""Text delivery: one masked text message parsed into its str, against ``bytes.decode``.

What an application waits for when a text message arrives is the parser's
work (unmask, validate, build the str). For non-ASCII text most of it used to
be CPython's UTF-8 decoder; the compiled parser now validates, counts and
transcodes with SIMD straight into a str of the right width. The bar is
``bytes.decode`` of the (already unmasked) payload alone: ``c parse`` must
take at most 0.4x its time on 1 MiB of CJK, emoji and Latin-1-range text
(``c vs decode`` >= 2.5x), stay at copy speed on ASCII, and short messages
must be no slower than before (see ``benchmarks/interleave.py``).
``decode_utf8`` is the primitive alone, on the same payload.
"""

from __future__ import annotations

from typing import Any, Dict, Iterator, Tuple

from wsfast.bench import Case, implementations
from wsfast.bench.utf8 import TEXTS, make_text

TITLE = "Text delivery: parse one masked text message -> str, vs bytes.decode of its payload"
ORDER = 25

SIZES = [("16 B", 16), ("125 B", 125), ("1 KiB", 1024), ("64 KiB", 65536), ("1 MiB", 1 << 20)]
QUICK_SIZES = [("16 B", 16), ("1 KiB", 1024), ("1 MiB", 1 << 20)]
PURE_MAX = 65536  # the pure-Python parser is skipped above this

RATIOS = [
    ("c parse", "decode", "c vs decode"),
    ("c decode_utf8", "decode", "decode_utf8 vs decode"),
    ("c parse", "py parse", "c/py"),
]


def targets(kind: str, size: int) -> Dict[Tuple[str, str], float]:
    if kind != "ascii" and size == 1 << 20:
        return {("c parse", "decode"): 2.5}
    return {}


def _parse(parser: Any, wire: bytes) -> Any:
    return parser.feed(wire)[0].data


def cases(quick: bool) -> Iterator[Case]:
    from wsfast._frames_py import encode_frame

    impls = implementations()
    for kind in TEXTS:
        for name, size in QUICK_SIZES if quick else SIZES:
            data = make_text(kind, size)
            wire = encode_frame(1, data, mask=True)
            funcs: Dict[str, Any] = {}
            for label in ("c", "py"):
                impl = impls.get(label)
                if impl is None or (label == "py" and size > PURE_MAX):
                    funcs[f"{label} parse"] = None
                    continue
                parser = impl.FrameParser(max_message_size=None)
                assert _parse(parser, wire) == data.decode()
                funcs[f"{label} parse"] = (_parse, parser, wire)
            c = impls.get("c")
            decode_utf8 = getattr(c, "decode_utf8", None)  # (an older build has none: interleave.py)
            funcs["c decode_utf8"] = (decode_utf8, data) if decode_utf8 is not None else None
            funcs["decode"] = (bytes.decode, data)
            yield Case(f"{kind} {name}", len(data), funcs, targets(kind, size), series=kind)
