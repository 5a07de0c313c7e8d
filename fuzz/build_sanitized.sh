#!/usr/bin/env bash
# Build wsfast's extensions with AddressSanitizer + UndefinedBehaviorSanitizer
# (WSFAST_SANITIZE=1) into a scratch directory, then fuzz the frame parser
# (or FUZZ_TARGET: fuzz_utf8_decode for the UTF-8 -> str decoders, fuzz_stream for
# the per-frame reader) there with
# atheris, an ASan runtime preloaded into the (uninstrumented) Python interpreter.
#
#   fuzz/build_sanitized.sh [RUNS] [extra libFuzzer flags...]     RUNS defaults to 1000000
#
# Which runtime: atheris ships asan_with_fuzzer.so (ASan + UBSan + libFuzzer in
# one library). Preloading it keeps libFuzzer's coverage feedback working, so
# the extensions are linked WITHOUT the compiler's own sanitizer runtimes (two
# ASan runtimes in one process refuse to start) and their __asan_*/__ubsan_*
# calls resolve to the preloaded one. Without that file, the compiler's
# libasan is preloaded instead: memory errors are still caught, but the
# fuzzer gets no coverage signal (a warning says so).
#
# Environment: PYTHON (interpreter with Cython, setuptools, atheris; default
# python3), CC (default gcc), WSFAST_SAN_DIR (scratch dir, default
# build/sanitized), FUZZ_TARGET (fuzz_frames, fuzz_utf8_decode, fuzz_stream or fuzz_datapath), FUZZ_CORPUS
# (corpus dir, default $WSFAST_SAN_DIR/corpus-$FUZZ_TARGET).
# Exit status is the fuzzer's: 0 when every run passed.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PY="${PYTHON:-python3}"
export CC="${CC:-gcc}"
OUT="${WSFAST_SAN_DIR:-$ROOT/build/sanitized}"
RUNS="${1:-1000000}"
shift || true

rm -rf "$OUT/lib" "$OUT/tmp"
TARGET="${FUZZ_TARGET:-fuzz_frames}"
mkdir -p "$OUT/lib" "$OUT/tmp" "${FUZZ_CORPUS:=$OUT/corpus-$TARGET}" "$OUT/artifacts"

RUNTIME="$("$PY" -c 'import atheris, os; print(os.path.join(atheris.path(), "asan_with_fuzzer.so"))')"
if [ -e "$RUNTIME" ]; then
    # link without the compiler's sanitizer runtimes: drop -fsanitize* from the link line only
    cat > "$OUT/link-without-runtime" <<'SH'
#!/usr/bin/env bash
args=()
for a in "$@"; do
    case "$a" in -fsanitize=*|-fno-sanitize-recover=*) ;; *) args+=("$a") ;; esac
done
exec "$CC" "${args[@]}"
SH
    chmod +x "$OUT/link-without-runtime"
    export LDSHARED="$OUT/link-without-runtime -shared -pthread"
else
    RUNTIME="$("$CC" -print-file-name=libasan.so)"
    echo "WARNING: atheris' asan_with_fuzzer.so not found; preloading $RUNTIME (no coverage feedback)" >&2
fi

echo "== building the sanitized extensions into $OUT/lib =="
cd "$ROOT"
WSFAST_SANITIZE=1 WSFAST_REQUIRE_EXTENSIONS=1 \
    "$PY" setup.py -q build_ext --force --build-lib "$OUT/lib" --build-temp "$OUT/tmp"
# the pure-Python part of the package next to the sanitized modules
"$PY" - "$ROOT/wsfast" "$OUT/lib/wsfast" <<'PYCOPY'
import shutil, sys
src, dst = sys.argv[1], sys.argv[2]
shutil.copytree(src, dst, dirs_exist_ok=True,
                ignore=shutil.ignore_patterns("*.so", "*.pyd", "__pycache__"))
PYCOPY

export LD_PRELOAD="$RUNTIME"
# Python's own leaks are not ours; allocations go through malloc so ASan sees
# every bytes object (pymalloc would hide overflows inside its arenas).
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:allocator_may_return_null=1:${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-}"
export PYTHONMALLOC=malloc
export PYTHONPATH="$OUT/lib"
export WSFAST_REQUIRE_EXTENSIONS=1

cd "$OUT"  # not the checkout: its in-place modules must not shadow the sanitized ones
echo "== checking the sanitized build is what gets imported (runtime: $RUNTIME) =="
"$PY" - "$OUT/lib" <<'PYCHECK'
import sys
import wsfast
from wsfast import _frames_c
assert _frames_c.__file__.startswith(sys.argv[1]), _frames_c.__file__
assert wsfast.IMPLEMENTATION == "c"
print("ok:", _frames_c.__file__)
PYCHECK

echo "== fuzzing: $RUNS runs =="
exec "$PY" "$ROOT/fuzz/$TARGET.py" "$FUZZ_CORPUS" -runs="$RUNS" -print_final_stats=1 \
    -artifact_prefix="$OUT/artifacts/" "$@"
