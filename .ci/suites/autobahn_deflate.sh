#!/usr/bin/env bash
# The Autobahn permessage-deflate cases too long for the main test run: 12.*.8-18 and 13.*.8-18
# (132 cases, 8 KiB to 128 KiB x 1000 messages each, ~11 GB each way), through kosoku, against
# the wsfast server on the compiled hot path. Every case must be OK (NON-STRICT is a miss).
# The 84 cases up to 16 KiB run in the main test run (tests/test_aio_autobahn.py), against the
# server and the client, compiled and pure Python.
source "$(dirname "$0")/_common.bash"
KOSOKU=0.1.0
suite_venv autobahn_deflate
# isal: the server compresses level-1 messages of 256 B and more with ISA-L, as wsfast[isal] does
python -m pip install -q "kosoku==$KOSOKU" pytest pytest-benchmark isal
cd "$ROOT"
log=$WORK/output.txt
set +e
WSFAST_AUTOBAHN_DEFLATE_LARGE=1 WSFAST_REQUIRE_EXTENSIONS=1 python -m pytest -q -p no:cacheprovider -s \
  "tests/test_aio_autobahn.py::test_autobahn_deflate_large_cases_compiled_server[c]" >"$log" 2>&1
rc=$?
set -e
cat "$log"
summary=$(grep -E "^Autobahn via kosoku|verdicts" "$log" | tr '\n' ' ' | sed 's/  */ /g')
counts=$(suite_counts "$log")
if [ "$rc" -ne 0 ] || ! echo "$counts" | grep -q "^1 passed, 0 skipped"; then
  echo "SUITE FAILED autobahn deflate (kosoku $KOSOKU): exit $rc, $counts; $summary"
  exit 1
fi
echo "SUITE OK autobahn deflate (kosoku $KOSOKU): $summary"
