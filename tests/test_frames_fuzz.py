"""A short atheris run of each fuzz target: fuzz/fuzz_frames.py (compiled vs pure parser, writers
byte for byte), fuzz/fuzz_stream.py (compiled vs pure FrameReader) and fuzz/fuzz_utf8_decode.py
(every decoder vs the codec).

The long runs, under ASan/UBSan, are fuzz/build_sanitized.sh; these keep the
targets (and the test helpers they share) working and catch regressions in
seconds. Skipped only when atheris (or the compiled extension) is not available.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.parametrize("target", ["fuzz_frames", "fuzz_stream", "fuzz_utf8_decode"])
def test_short_fuzz_run(c_impl, tmp_path, target):
    pytest.importorskip("atheris")
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run(
        [sys.executable, os.path.join(ROOT, "fuzz", f"{target}.py"), "-runs=4000", "-max_total_time=20",
         "-seed=1", "-print_final_stats=1", f"-artifact_prefix={tmp_path}{os.sep}"],
        capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-4000:]
    assert "stat::number_of_executed_units" in output
    assert not list(tmp_path.glob("crash-*"))
