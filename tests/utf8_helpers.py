"""Test helpers for the UTF-8 -> str decoders: text of every width class, and outcomes that
compare with the codec's own.

``decode_outcome`` records what a decoder did with some bytes (its str, or where and why it
raised) and ``same`` checks one outcome against the codec's, width included; ``POOLS``
are the characters texts are made of. The decoding tests (tests/test_utf8_decode.py) and
the fuzz target (fuzz/fuzz_utf8_decode.py) both use them.
"""

from __future__ import annotations

import sys
from typing import Any, Callable, List, Tuple, Union

# one character of each width class, with the edges of every UTF-8 length
EDGES = ["a", "\x00", "\x7f", "\x80", "é", "\xff", "\u0100", "\u07ff", "\u0800", "€", "天", "\ud7ff",
         "\ue000", "\uffff", "\U00010000", "😀", "\U0010ffff"]

# what texts are drawn from: one width, two widths mixed, all of them
POOLS: List[List[str]] = [["a"], ["é", "a"], ["\xff"], ["天"], ["天", "a"], ["€", "é", "a"], ["😀"],
                          ["😀", "a"], ["😀", "天"], EDGES]

Outcome = Union[str, Tuple[str, int, int, str]]


def decode_outcome(func: Callable[[Any], str], data: Any) -> Outcome:
    """``func(data)``, or ("error", start, end, reason) of the UnicodeDecodeError it raised."""
    try:
        return func(data)
    except UnicodeDecodeError as exc:
        return ("error", exc.start, exc.end, exc.reason)


def expected_outcome(data: bytes) -> Outcome:
    """What the codec itself does with ``data``."""
    return decode_outcome(bytes.decode, data)


def same(got: Outcome, expected: Outcome) -> None:
    """AssertionError unless ``got`` is ``expected``: the same error, or an equal str of the same
    width (a str of a wider kind would still compare equal)."""
    assert got == expected, f"{got!r:.200} != {expected!r:.200}"
    if isinstance(expected, str):
        assert type(got) is str
        if len(expected) >= 2:  # (0 and 1 characters may be CPython's shared singletons, whose
            fresh = expected.encode().decode()  # size includes a cached UTF-8 copy once asked for)
            assert sys.getsizeof(got) == sys.getsizeof(fresh), "same text, another width"
