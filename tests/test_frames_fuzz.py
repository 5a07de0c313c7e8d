"""A short atheris run of fuzz/fuzz_frames.py (compiled vs pure parser, writers byte for byte).

The long run, under ASan/UBSan, is fuzz/build_sanitized.sh; this one keeps the
target working and catches regressions in seconds. Skipped only when atheris
(or the compiled extension) is not available.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_short_fuzz_run(c_impl, tmp_path):
    pytest.importorskip("atheris")
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run(
        [sys.executable, os.path.join(ROOT, "fuzz", "fuzz_frames.py"), "-runs=4000", "-max_total_time=20",
         "-seed=1", "-print_final_stats=1", f"-artifact_prefix={tmp_path}{os.sep}"],
        capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-4000:]
    assert "stat::number_of_executed_units" in output
    assert not list(tmp_path.glob("crash-*"))
