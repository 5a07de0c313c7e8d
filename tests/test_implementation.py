"""Implementation selection: IMPLEMENTATION, WSFAST_NO_EXTENSIONS, WSFAST_REQUIRE_EXTENSIONS."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Sequence

import pytest

import wsfast
from wsfast import _impl


def _run(code: str, python_flags: Sequence[str] = (), **env: str) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("WSFAST_")}
    full_env.update(env)
    cmd = [sys.executable, *python_flags, "-c", code]
    return subprocess.run(cmd, capture_output=True, text=True, env=full_env)


def test_compiled_loads_under_ci():
    """Under CI a build that lost its extension must fail loudly, not skip."""
    if not _impl.env_flag("CI"):
        pytest.skip("only enforced when CI is set")
    assert _impl.load("c").name == "c"
    if not _impl.env_flag("WSFAST_NO_EXTENSIONS"):
        assert wsfast.IMPLEMENTATION == "c"


def test_no_extensions_forces_python():
    code = "import wsfast; print(wsfast.IMPLEMENTATION, wsfast.apply_mask.__module__)"
    out = _run(code, WSFAST_NO_EXTENSIONS="1")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["python", "wsfast._mask_py"]


def test_default_prefers_compiled():
    try:
        _impl.load("c")
    except ImportError:
        pytest.skip("extension not built")
    out = _run("import wsfast; print(wsfast.IMPLEMENTATION)")
    assert out.stdout.strip() == "c", out.stderr


def test_require_extensions_with_no_extensions_conflicts():
    out = _run("import wsfast", WSFAST_NO_EXTENSIONS="1", WSFAST_REQUIRE_EXTENSIONS="1")
    assert out.returncode != 0
    assert "WSFAST_REQUIRE_EXTENSIONS" in out.stderr


def test_require_extensions_fails_loudly_when_missing(tmp_path):
    """Hide the compiled modules (a copy of the package without .so files): import must raise.

    `python -S` keeps site-packages (and an editable install's import hook) out,
    so the stripped copy is the package that gets imported.
    """
    import shutil

    pkg = tmp_path / "wsfast"
    shutil.copytree(os.path.dirname(wsfast.__file__), pkg, ignore=shutil.ignore_patterns("*.so", "*.pyd"))
    code = (
        f"import sys; sys.path.insert(0, {str(tmp_path)!r}); import wsfast; "
        "print(wsfast.IMPLEMENTATION, wsfast.__file__)"
    )
    silent = _run(code, python_flags=["-S"])
    assert silent.returncode == 0, silent.stderr
    implementation, location = silent.stdout.split()
    assert implementation == "python" and location.startswith(str(tmp_path))
    loud = _run(code, python_flags=["-S"], WSFAST_REQUIRE_EXTENSIONS="1")
    assert loud.returncode != 0
    assert "ImportError" in loud.stderr and "required" in loud.stderr


def test_unknown_implementation_name():
    with pytest.raises(ValueError):
        _impl.load("rust")
