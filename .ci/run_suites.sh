#!/usr/bin/env bash
# Runs every .ci/suites/*.sh (another library's own test suite, or a long
# external check, with wsfast plugged in), WSFAST_SUITE_JOBS at a time (2:
# these machines have 2 cores). Each suite makes its own virtualenv under
# .ci/work/ and prints a one-line summary as its last line; its whole output
# goes to .ci/work/logs/NAME.log and is printed when it fails.
# Usage: bash .ci/run_suites.sh [NAME ...]   (default: all of them)
set -uo pipefail
cd "$(dirname "$0")/.."
jobs=${WSFAST_SUITE_JOBS:-2}
logs=.ci/work/logs
mkdir -p "$logs"

if [ "$#" -gt 0 ]; then
  suites=()
  for name in "$@"; do suites+=(".ci/suites/$name.sh"); done
else
  shopt -s nullglob
  suites=(.ci/suites/*.sh)
fi
if [ "${#suites[@]}" -eq 0 ]; then
  echo "no outside suites"
  exit 0
fi

run_one() {
  local script=$1 name log t0 rc
  name=$(basename "$script" .sh)
  log=".ci/work/logs/$name.log"
  t0=$(date +%s)
  bash "$script" >"$log" 2>&1
  rc=$?
  echo "$name: exit $rc after $(($(date +%s) - t0)) s -- $(tail -n 1 "$log")"
  return "$rc"
}
export -f run_one

failed=0
printf '%s\n' "${suites[@]}" | xargs -P "$jobs" -I{} bash -c 'run_one "$@"' _ {} || failed=1
if [ "$failed" -ne 0 ]; then
  for script in "${suites[@]}"; do
    name=$(basename "$script" .sh)
    if ! grep -q "^SUITE OK" ".ci/work/logs/$name.log" 2>/dev/null; then
      echo "==== $name: last 150 lines of its log ===="
      tail -n 150 ".ci/work/logs/$name.log"
    fi
  done
  exit 1
fi
