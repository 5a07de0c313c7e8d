"""Implementation selection: IMPLEMENTATION, WSFAST_NO_EXTENSIONS, WSFAST_REQUIRE_EXTENSIONS."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Sequence

import pytest

import wsfast
from wsfast import _impl
from wsfast._env import env_flag


def _run(code: str, python_flags: Sequence[str] = (), **env: str) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("WSFAST_")}
    full_env.update(env)
    cmd = [sys.executable, *python_flags, "-c", code]
    return subprocess.run(cmd, capture_output=True, text=True, env=full_env)


def test_compiled_loads_under_ci():
    """Under CI a build that lost its extension must fail loudly, not skip."""
    if not env_flag("CI"):
        pytest.skip("only enforced when CI is set")
    assert _impl.load("c").name == "c"
    if not env_flag("WSFAST_NO_EXTENSIONS"):
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


@pytest.mark.parametrize("value,expected", [
    ("1", True), ("yes", True), ("on", True), ("true", True), (" TRUE ", True), ("anything", True),
    ("", False), ("0", False), ("false", False), ("No", False), ("off", False), (" OFF ", False),
])
def test_env_flag_values(value, expected):
    assert env_flag("WSFAST_X", {"WSFAST_X": value}) is expected
    assert env_flag("WSFAST_X", {}) is False


# setup.py run with stand-ins for setuptools and Cython: what does it decide about the extensions?
_SETUP_PROBE = """
import sys, types
def module(name, **attrs):
    m = types.ModuleType(name); m.__dict__.update(attrs); sys.modules[name] = m
module("setuptools", Extension=lambda name, *a, **k: name,
       setup=lambda **k: print("EXTENSIONS", k["ext_modules"]))
module("setuptools.command"); module("setuptools.command.build_ext", build_ext=object)
module("Cython"); module("Cython.Build", cythonize=lambda exts, **k: exts)
sys.argv = ["setup.py"]
exec(compile(open({path!r}).read(), "setup.py", "exec"), {{"__file__": {path!r}, "__name__": "__main__"}})
"""


@pytest.mark.parametrize("value,pure", [("1", True), ("off", False), ("0", False), ("no", False),
                                        ("", False)])
def test_build_and_runtime_read_no_extensions_alike(value, pure):
    """WSFAST_NO_EXTENSIONS=off means unset for setup.py as for the runtime (one flag parser)."""
    setup_py = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "setup.py")
    build = _run(_SETUP_PROBE.format(path=setup_py), WSFAST_NO_EXTENSIONS=value)
    assert build.returncode == 0, build.stderr
    assert ("EXTENSIONS []" in build.stdout) is pure, build.stdout
    assert ("WSFAST_NO_EXTENSIONS is set" in build.stdout) is pure
    runtime = _run("import wsfast; print(wsfast.IMPLEMENTATION)", WSFAST_NO_EXTENSIONS=value)
    assert runtime.returncode == 0, runtime.stderr
    if pure:
        assert runtime.stdout.strip() == "python"
    else:
        try:
            _impl.load("c")
        except ImportError:
            pytest.skip("extension not built")
        assert runtime.stdout.strip() == "c"
