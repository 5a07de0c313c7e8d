#!/usr/bin/env bash
# Packaging checks on a fresh machine: the sdist builds and installs WITH the
# extension; a build with no usable C compiler, or with WSFAST_NO_EXTENSIONS=1,
# still installs and runs pure Python.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
PY=${PYTHON:-python3}

python -m build --sdist --outdir "$work/dist" . >"$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
sdist=$(ls "$work"/dist/wsfast-*.tar.gz)
tar tzf "$sdist" >"$work/sdist.txt"
echo "sdist: $(basename "$sdist") ($(wc -l <"$work/sdist.txt") files)"
for f in src/mask_avx512.c src/utf8.h src/_mask_c.pyx src/deflate.c src/deflate.h wsfast/py.typed; do
  grep -q "/$f\$" "$work/sdist.txt" || { echo "sdist lacks $f"; exit 1; }
done

check() {  # check NAME EXPECTED_IMPLEMENTATION [env...] -- pip args
  local name=$1 expected=$2; shift 2
  local envs=()
  while [ "$1" != "--" ]; do envs+=("$1"); shift; done; shift
  "$PY" -m venv "$work/$name"
  env "${envs[@]}" "$work/$name/bin/pip" install -q "$@" >"$work/$name.log" 2>&1 || { cat "$work/$name.log"; exit 1; }
  got=$(cd "$work" && "$work/$name/bin/python" -c "import wsfast; print(wsfast.IMPLEMENTATION)")
  echo "$name: IMPLEMENTATION=$got"
  test "$got" = "$expected"
}

check from-sdist c PIP_DISABLE_PIP_VERSION_CHECK=1 -- "$sdist"
check no-compiler python CC=/bin/false LDSHARED=/bin/false -- "$sdist"
check no-extensions python WSFAST_NO_EXTENSIONS=1 -- "$sdist"
# where zlib cannot be linked (Windows wheels) the compiled build compresses with Python's zlib module
check no-zlib c WSFAST_NO_ZLIB=1 -- "$sdist"
(cd "$work" && "$work/no-zlib/bin/python" -c "from wsfast import _frames_c as f; print('no-zlib:', f.ZLIB); \
  assert f.ZLIB.startswith(\"Python's zlib\")")
(cd "$work" && "$work/from-sdist/bin/python" -c "from wsfast import _frames_c as f; print('from-sdist:', f.ZLIB)")
echo "packaging: ok"
