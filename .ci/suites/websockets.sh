#!/usr/bin/env bash
# websockets' own test suite (its 17.0.1 tag, kept in shared/peer-suites: the sdist ships no tests)
# against websockets==17.0.1, with wsfast.patch.websockets() applied before any test imports it.
source "$(dirname "$0")/_common.bash"
VERSION=17.0.1
suite_venv websockets
python -m pip install -q "websockets==$VERSION" trio 'python-socks[asyncio]' werkzeug
shared=$(shared_dir)  # fails the suite when the folder is missing
cp -r "$shared/peer-suites/websockets-$VERSION" "$WORK/suite"
chmod -R u+w "$WORK/suite"
cd "$WORK/suite"
suite_run websockets "websockets $VERSION" "$SUITES/unittest_run.py" "$SUITES/websockets.exclude"
