"""UTF-8 validation: compiled vs pure Python vs bytes.decode("utf-8").

Groups are one text kind at one size; within a group compare the `c`, `py`
and `decode` rows. Texts, sizes, ratios and targets are those of ``python -m
wsfast bench utf8`` (wsfast/bench/utf8.py); its table is printed at the end.

    python -m pytest benchmarks/bench_utf8.py --benchmark-enable -q
"""

from __future__ import annotations

import pytest
from _summary import Summary

from wsfast.bench import implementations
from wsfast.bench import utf8 as section

IMPLS = implementations()
VALIDATORS = {label: impl.validate_utf8 for label, impl in IMPLS.items()}
VALIDATORS["decode"] = bytes.decode
SUMMARY = Summary(section, [(f"{kind} {name}", section.targets(kind, size))
                            for kind in section.TEXTS for name, size in section.SIZES])


@pytest.fixture(scope="module", autouse=True)
def _ratio_summary(request):
    yield
    SUMMARY.print(request)


@pytest.mark.parametrize("column", ["c", "py", "decode"])
@pytest.mark.parametrize("size_name,size", section.SIZES, ids=[name for name, _ in section.SIZES])
@pytest.mark.parametrize("kind", list(section.TEXTS))
def test_validate(benchmark, kind, size_name, size, column):
    if column not in VALIDATORS:
        pytest.skip(f"{column} implementation unavailable")
    benchmark.group = f"validate {kind} {size_name}"
    data = section.make_text(kind, size)
    result = benchmark(VALIDATORS[column], data)
    assert result is True if column != "decode" else isinstance(result, str)
    SUMMARY.record(benchmark, f"{kind} {size_name}", column)


def _feed_all(validator_cls, chunks):
    v = validator_cls()
    for chunk in chunks:
        v.feed(chunk)
    return v.finish()


@pytest.mark.parametrize("column", ["c", "py"])
@pytest.mark.parametrize("chunk", [125, 4096, 65536])
@pytest.mark.parametrize("kind", ["ascii", "cjk"])
def test_incremental_1mib(benchmark, kind, chunk, column):
    """1 MiB fed in fixed-size chunks (most chunks end inside a character for CJK)."""
    if column not in IMPLS:
        pytest.skip(f"{column} implementation unavailable")
    cls = IMPLS[column].Utf8Validator
    benchmark.group = f"feed {kind} 1MiB in {chunk}B chunks"
    data = section.make_text(kind, 1 << 20)
    chunks = [data[i:i + chunk] for i in range(0, len(data), chunk)]
    assert benchmark(_feed_all, cls, chunks) is True
