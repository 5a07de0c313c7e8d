#!/usr/bin/env bash
# mypy --strict over the package, then mypy's stubtest: the .pyi stubs of the compiled
# modules against the modules themselves (they must be built: run after the install).
#
# The interpreter is the one wsfast is installed in, whatever comes first on PATH: the active
# virtualenv's ($VIRTUAL_ENV, as inside .ci/run), else this checkout's .venv, else $PYTHON (or
# python). Not $PYTHON first: .ci/run reads PYTHON as the base interpreter it makes .venv from.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "${VIRTUAL_ENV:-}" ] && [ -x "$VIRTUAL_ENV/bin/python" ]; then
  py="$VIRTUAL_ENV/bin/python"
elif [ -x .venv/bin/python ]; then
  py=.venv/bin/python
else
  py="${PYTHON:-python}"
fi
"$py" -m pip install -q "mypy==2.4.1"
"$py" -m mypy --strict wsfast
"$py" -m mypy.stubtest wsfast._frames_c wsfast._mask_c wsfast._utf8_c wsfast._stream_c wsfast._datapath_c \
  --allowlist .ci/stubtest-allowlist.txt
# what a user's type checker sees of the public hot path (assert_type: no Any)
"$py" -m mypy --strict tests/typing/public_api.py
