#!/usr/bin/env bash
# mypy --strict over the package, then mypy's stubtest: the .pyi stubs of the compiled
# modules against the modules themselves (they must be built: run after the install).
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install -q "mypy==2.4.1"
mypy --strict wsfast
python -m mypy.stubtest wsfast._frames_c wsfast._mask_c wsfast._utf8_c wsfast._stream_c \
  --allowlist .ci/stubtest-allowlist.txt
# what a user's type checker sees of the public hot path (assert_type: no Any)
mypy --strict tests/typing/public_api.py
