#!/usr/bin/env bash
# mypy --strict over the package. (Stub checks against the compiled modules join here.)
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install -q "mypy==2.4.1"
mypy --strict wsfast
