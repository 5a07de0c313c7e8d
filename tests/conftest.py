"""Shared fixtures: every hot-path test runs against both implementations.

`impl` is a namespace holding one whole implementation ("c" or "python").
When CI is set, a compiled implementation that fails to load is an error,
never a silent skip.
"""

from __future__ import annotations

import os

import pytest

from wsfast import _impl
from wsfast._env import env_flag

IMPLEMENTATIONS = ["c", "python"]


def _ci() -> bool:
    return env_flag("CI")


def load_impl(kind: str):
    try:
        return _impl.load(kind)
    except ImportError as exc:
        if kind == "c" and (_ci() or env_flag("WSFAST_REQUIRE_EXTENSIONS")):
            pytest.fail(f"the compiled implementation did not load under CI: {exc}")
        pytest.skip(f"{kind} implementation unavailable: {exc}")


@pytest.fixture(params=IMPLEMENTATIONS)
def impl(request):
    """One whole implementation of the hot path (parametrized: compiled, then pure Python)."""
    return load_impl(request.param)


@pytest.fixture
def c_impl():
    return load_impl("c")


@pytest.fixture
def py_impl():
    return load_impl("python")


def pytest_report_header(config):
    import wsfast

    try:
        from wsfast import _mask_c

        kernel = _mask_c.KERNEL
    except ImportError as exc:
        kernel = f"unavailable ({exc})"
    simd = os.environ.get("WSFAST_SIMD", "auto")
    return [f"wsfast: IMPLEMENTATION={wsfast.IMPLEMENTATION}, mask kernel={kernel}, WSFAST_SIMD={simd}"]
