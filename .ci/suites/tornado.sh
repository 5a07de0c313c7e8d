#!/usr/bin/env bash
# tornado's own WebSocket tests (shipped in its sdist) with wsfast.patch.tornado() applied.
source "$(dirname "$0")/_common.bash"
VERSION=6.6.1
suite_venv tornado
python -m pip install -q "tornado==$VERSION"
cd "$WORK"
export NO_NETWORK=1
# its own runner (log checks, warnings as errors); no exclusions are needed, so none are supported
suite_run tornado "tornado $VERSION" -m tornado.test.runtests tornado.test.websocket_test
