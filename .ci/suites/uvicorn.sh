#!/usr/bin/env bash
# uvicorn's own WebSocket tests (its sdist ships them) run against wsfast.uvicorn.WSFastProtocol.
#
# uvicorn.patch adds wsfast's class to the ws_protocol_cls parametrisation of tests/conftest.py
# (and lets anyio run the tests on uvloop); uvicorn_plugin.py keeps the tests that take
# ws_protocol_cls, for wsfast's class only, minus uvicorn.exclude (each line gives its reason).
# uvicorn's pytest configuration applies as shipped (warnings are errors, strict config), with
# -n 2. Runs: asyncio loop with every HTTP protocol (h11, httptools, zttp); uvloop with httptools
# (uvicorn[standard]); then uvicorn's own classes once, as the control. tests/benchmarks (CodSpeed
# benchmarks of uvicorn's own classes, on a fake event loop) takes no ws_protocol_cls: not collected.
# pytest runs in a network namespace of its own (own_loopback, _common.bash): uvicorn's tests pick
# ports by binding port 0 and closing it, which races with the suite running beside it.
source "$(dirname "$0")/_common.bash"  # suite_venv: .ci/work/NAME/venv with wsfast from the working tree
VERSION=0.55.0  # the newest release: its suite has the denial-response and shutdown tests 0.54.0 lacks
suite_venv uvicorn

# uvicorn[standard] at the pinned release and its test dependencies (pyproject's dev group, pinned)
python -m pip install -q "uvicorn[standard]==$VERSION" "pytest==9.2.0" "pytest-mock==3.17.0" \
  "pytest-xdist[psutil]==3.8.0" "anyio==4.16.0" "trustme==1.2.1" "cryptography==51.0.1" \
  "httpx2==2.17.0" "a2wsgi==1.10.10" "wsproto==1.3.2" "zttp==0.0.35"
python -m pip download -q --no-deps --no-binary :all: "uvicorn==$VERSION" -d "$WORK"
tar -xzf "$WORK/uvicorn-$VERSION.tar.gz" -C "$WORK"
cd "$WORK/uvicorn-$VERSION"
rm -rf uvicorn  # the tests import the installed uvicorn
patch -s -p1 < "$ROOT/.ci/suites/uvicorn.patch"
python -c 'import uvicorn, websockets, wsproto, uvloop, httptools
print("uvicorn", uvicorn.__version__, "websockets", websockets.__version__, "uvloop", uvloop.__version__)'

export PYTHONPATH=$ROOT/.ci/suites
summaries=()
run() {  # label, environment..., then pytest arguments after "--"
  local label=$1 log=$WORK/$1.log rc line
  shift
  local envs=()
  while [ "$1" != "--" ]; do envs+=("$1"); shift; done
  shift
  set +e
  own_loopback env "${envs[@]}" WSFAST_SUITE_COUNTS="$WORK/$label.counts" \
    python -m pytest -p uvicorn_plugin -p no:cacheprovider -n 2 tests --ignore=tests/benchmarks "$@" >"$log" 2>&1
  rc=$?
  set -e
  cat "$log"
  line=$(grep -E "^=+ .*(passed|failed|error).* in [0-9.]+s" "$log" | tail -n 1 | sed -E 's/^=+ //; s/ in [0-9.]+s.*//')
  summaries+=("$label: $line")
  if [ "$rc" -ne 0 ] || echo "$line" | grep -Eq "failed|error"; then
    echo "SUITE FAILED uvicorn $VERSION ($label): exit $rc, $line"
    exit 1
  fi
}

run asyncio WSFAST_SUITE_CLASSES=wsfast --
run uvloop WSFAST_SUITE_CLASSES=wsfast WSFAST_SUITE_UVLOOP=1 WSFAST_SUITE_HTTP=httptools --
run control WSFAST_SUITE_CLASSES=wsproto,websockets-sansio WSFAST_SUITE_HTTP=httptools --
excluded=$(grep -Ecv '^(#|uvloop:)' "$ROOT/.ci/suites/uvicorn.exclude")
on_uvloop=$(grep -Ec '^uvloop:' "$ROOT/.ci/suites/uvicorn.exclude")
echo "SUITE OK uvicorn $VERSION, wsfast.uvicorn.WSFastProtocol: ${summaries[0]}; ${summaries[1]}" \
  "($excluded tests excluded, $on_uvloop more on uvloop: .ci/suites/uvicorn.exclude); uvicorn's own classes, ${summaries[2]}"
