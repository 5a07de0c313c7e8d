# Sourced by the suite scripts that run another library's own tests with wsfast.patch applied
# (not a suite itself: .ci/run_suites.sh runs *.sh only).
#
#   suite_venv NAME            fresh virtualenv .ci/work/NAME/venv, wsfast from the working tree
#   suite_run NAME LABEL ARGS  run python ARGS (the library's test command), patched, or unpatched when
#                              WSFAST_SUITE_UNPATCHED=1 (how the pinned counts in NAME.unpatched
#                              are measured, once per pinned version); compare, print the summary
#
# The patched run goes through `python -m wsfast.patch --strict`: a refused patch fails the suite
# instead of letting it pass unpatched. Counts are checked against NAME.unpatched: every test that
# passed unpatched passes patched, except those listed in NAME.exclude (one test id per line, then
# "#" and the reason), and no more are skipped.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SUITES=$ROOT/.ci/suites

shared_dir() {  # the shared/ folder beside the clone (CI) or beside the main checkout (worktrees)
  local d
  for d in "${WSFAST_SHARED:-}" "$ROOT/../shared" "$ROOT/../../shared" /work/shared; do
    if [ -n "$d" ] && [ -d "$d/peer-suites" ]; then (cd "$d" && pwd); return 0; fi
  done
  echo "no shared/peer-suites beside $ROOT (set WSFAST_SHARED)" >&2
  return 1
}

# own_loopback CMD...: run CMD in a network namespace of its own that holds only a loopback
# interface, where one can be made (root, unshare); else run it as is. For suites whose tests pick
# a "free" port by binding port 0 and closing it, then bind it again later (uvicorn's
# unused_tcp_port): with two suites running at once, a client socket of the other suite can take
# that ephemeral port in between ("address already in use"). In its own namespace a suite has the
# whole port space to itself. Only the test command runs there: installs need the registries.
own_loopback() {
  if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null 2>&1 && command -v ip >/dev/null 2>&1 \
      && unshare --net true 2>/dev/null; then
    unshare --net sh -c 'ip link set lo up && exec "$@"' own_loopback "$@"
  else
    "$@"
  fi
}

suite_venv() {
  WORK=$ROOT/.ci/work/$1
  rm -rf "$WORK"
  mkdir -p "$WORK/src"
  "${PYTHON:-python3}" -m venv "$WORK/venv"
  # shellcheck disable=SC1091
  . "$WORK/venv/bin/activate"
  export PIP_DISABLE_PIP_VERSION_CHECK=1
  python -m pip install -q --upgrade pip
  if ! ls "$ROOT"/wsfast/_frames_c*.so >/dev/null 2>&1; then
    (cd "$ROOT" && python -m pip install -q "setuptools>=77" "Cython>=3.0,<4" \
      && python setup.py build_ext --inplace -q)
  fi
  # wsfast as built in the working tree, and nothing else of the repository (its tests/ package
  # must not shadow the library's)
  ln -s "$ROOT/wsfast" "$WORK/src/wsfast"
  python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])' | {
    read -r site; echo "$WORK/src" > "$site/wsfast-worktree.pth"; }
  WSFAST_REQUIRE_EXTENSIONS=1 python -c 'import wsfast; assert wsfast.IMPLEMENTATION == "c"'
}

# "Ran N tests ... OK (skipped=S)" (unittest) or "N passed, S skipped" (pytest) -> "P passed, S skipped"
suite_counts() {
  python - "$1" <<'PY'
import re, sys
text = open(sys.argv[1], errors="replace").read()
ran = re.findall(r"^Ran (\d+) tests? in", text, re.M)
if ran:
    total = int(ran[-1])
    tail = text[text.rfind("Ran " + ran[-1]):]
    counts = {k: int(v) for k, v in re.findall(r"(failures|errors|skipped|expected failures|unexpected successes)=(\d+)", tail)}
    bad = counts.get("failures", 0) + counts.get("errors", 0) + counts.get("unexpected successes", 0)
    skipped = counts.get("skipped", 0) + counts.get("expected failures", 0)
    print(f"{total - skipped - bad} passed, {skipped} skipped" + (f", {bad} failed" if bad else ""))
    sys.exit(0)
lines = re.findall(r"^=*\s*(\d+ (?:passed|failed|errors?|skipped).*?) in [\d.]+s", text, re.M)
if not lines:
    print("no test summary found"); sys.exit(0)
found = dict((k, int(n)) for n, k in re.findall(r"(\d+) (passed|failed|skipped|errors?|xfailed|xpassed|deselected)", lines[-1]))
bad = found.get("failed", 0) + found.get("error", 0) + found.get("errors", 0)
print(f"{found.get('passed', 0)} passed, {found.get('skipped', 0) + found.get('xfailed', 0)} skipped"
      + (f", {bad} failed" if bad else ""))
PY
}

# Test ids excluded from the patched run (comments and blank lines dropped).
suite_excluded() {
  if [ -f "$SUITES/$1.exclude" ]; then
    sed -e 's/#.*//' -e 's/[[:space:]]*$//' "$SUITES/$1.exclude" | grep -v '^$' || true
  fi
}

suite_run() {
  local name=$1 label=$2 log rc counts pinned excluded npass nskip ppass pskip
  shift 2
  log=$WORK/output.txt
  if [ "${WSFAST_SUITE_UNPATCHED:-0}" = 1 ]; then
    set +e; python "$@" >"$log" 2>&1; rc=$?; set -e; cat "$log"
    counts=$(suite_counts "$log")
    [ "$rc" -eq 0 ] || { echo "SUITE FAILED $label (unpatched): exit $rc, $counts"; return 1; }
    echo "SUITE OK $label UNPATCHED: $counts (pin it: echo '$counts' > .ci/suites/$name.unpatched)"
    return 0
  fi
  set +e; python -m wsfast.patch --strict --verbose --only "$name" "$@" >"$log" 2>&1; rc=$?; set -e; cat "$log"
  counts=$(suite_counts "$log")
  pinned=$(cat "$SUITES/$name.unpatched")
  excluded=$(suite_excluded "$name" | wc -l)
  if [ "$rc" -ne 0 ]; then
    echo "SUITE FAILED $label: exit $rc, patched: $counts (unpatched, pinned: $pinned)"
    return 1
  fi
  grep -q "^wsfast.patch: $name " "$log" || { echo "SUITE FAILED $label: the patch was not applied"; return 1; }
  echo "$counts" | grep -Eq '^[0-9]+ passed, [0-9]+ skipped$' || {
    echo "SUITE FAILED $label: patched: $counts (unpatched, pinned: $pinned)"; return 1; }
  read -r npass nskip < <(echo "$counts" | sed -E 's/^([0-9]+) passed, ([0-9]+) skipped.*/\1 \2/')
  read -r ppass pskip < <(echo "$pinned" | sed -E 's/^([0-9]+) passed, ([0-9]+) skipped.*/\1 \2/')
  if [ "$((npass + excluded))" -ne "$ppass" ] || [ "$nskip" -ne "$pskip" ]; then
    echo "SUITE FAILED $label: patched: $counts, $excluded excluded; unpatched, pinned: $pinned"
    return 1
  fi
  echo "SUITE OK $label: patched: $counts, $excluded excluded (unpatched, pinned: $pinned)"
}
