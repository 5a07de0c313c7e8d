"""UTF-8 validation: compiled vs pure Python vs bytes.decode("utf-8").

Groups are one text kind at one size; within a group compare the `c`,
`python` and `decode` rows. Targets (issue 2): c >= 4x decode on non-ASCII
1 MiB text, c >= 1x decode on ASCII at every size.

    python -m pytest benchmarks/bench_utf8.py --benchmark-enable -q
"""

from __future__ import annotations

import contextlib

import pytest

from wsfast import _impl
from wsfast.bench.utf8 import TEXTS, make_text

SIZES = [("16B", 16), ("125B", 125), ("1KiB", 1024), ("64KiB", 64 << 10), ("1MiB", 1 << 20),
         ("16MiB", 16 << 20)]


def _validators():
    found = {"decode": bytes.decode}
    for label, kind in (("c", "c"), ("python", "python")):
        with contextlib.suppress(ImportError):
            found[label] = _impl.load(kind).validate_utf8
    return found


VALIDATORS = _validators()


@pytest.mark.parametrize("impl", ["c", "python", "decode"])
@pytest.mark.parametrize("size_name,size", SIZES, ids=[name for name, _ in SIZES])
@pytest.mark.parametrize("kind", list(TEXTS))
def test_validate(benchmark, kind, size_name, size, impl):
    if impl not in VALIDATORS:
        pytest.skip(f"{impl} implementation unavailable")
    benchmark.group = f"validate {kind} {size_name}"
    data = make_text(kind, size)
    result = benchmark(VALIDATORS[impl], data)
    assert result is True if impl != "decode" else isinstance(result, str)


def _feed_all(validator_cls, chunks):
    v = validator_cls()
    for chunk in chunks:
        v.feed(chunk)
    return v.finish()


@pytest.mark.parametrize("impl", ["c", "python"])
@pytest.mark.parametrize("chunk", [125, 4096, 65536])
@pytest.mark.parametrize("kind", ["ascii", "cjk"])
def test_incremental_1mib(benchmark, kind, chunk, impl):
    """1 MiB fed in fixed-size chunks (most chunks end inside a character for CJK)."""
    try:
        cls = _impl.load("c" if impl == "c" else "python").Utf8Validator
    except ImportError:
        pytest.skip(f"{impl} implementation unavailable")
    benchmark.group = f"feed {kind} 1MiB in {chunk}B chunks"
    data = make_text(kind, 1 << 20)
    chunks = [data[i:i + chunk] for i in range(0, len(data), chunk)]
    assert benchmark(_feed_all, cls, chunks) is True
