"""Build script: the compiled hot path is optional.

WSFAST_NO_EXTENSIONS=1 at build time, a missing compiler or a failed compile
all give a working pure-Python install (and say so); WSFAST_SANITIZE=1 builds
the extensions with AddressSanitizer + UBSan for fuzzing.
"""

import importlib.util
import os
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = "src"


def _load_env_flag():
    """wsfast/_env.py's env_flag, loaded by path: the build and the runtime read flags one way."""
    spec = importlib.util.spec_from_file_location("_wsfast_env", os.path.join(HERE, "wsfast", "_env.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.env_flag


_flag = _load_env_flag()


def _c_sources(*stems: str) -> list:
    return [os.path.join(SRC, stem + ".c") for stem in stems]


MASK_C = _c_sources("wsf_cpu", "mask", "mask_scalar", "mask_sse2", "mask_avx2", "mask_avx512", "mask_neon")
UTF8_C = _c_sources("utf8", "utf8_scalar", "utf8_sse2", "utf8_avx2", "utf8_avx512", "utf8_neon",
                    "utf8_decode_scalar", "utf8_decode_avx2")

# (module, pyx, C kernels it links)
EXTENSIONS = [
    ("wsfast._mask_c", "_mask_c.pyx", MASK_C),
    ("wsfast._utf8_c", "_utf8_c.pyx", ["src/wsf_cpu.c"] + UTF8_C),
    ("wsfast._frames_c", "_frames_c.pyx", MASK_C + UTF8_C),
]


def _compile_args() -> tuple:
    if sys.platform == "win32":
        return ["/O2"], []
    cflags = ["-O3", "-std=c99", "-fno-strict-aliasing", "-Wno-unused-function"]
    ldflags = []
    if _flag("WSFAST_SANITIZE"):
        san = [
            "-fsanitize=address,undefined",
            "-fno-omit-frame-pointer",
            "-fno-sanitize-recover=undefined",
            "-g",
            "-O1",
        ]
        cflags += san
        ldflags += san
    return cflags, ldflags


def _extensions() -> list:
    if _flag("WSFAST_NO_EXTENSIONS"):
        print("wsfast: WSFAST_NO_EXTENSIONS is set, installing the pure-Python implementation")
        return []
    try:
        from Cython.Build import cythonize
    except ImportError:
        print("wsfast: Cython is not available, installing the pure-Python implementation")
        return []
    cflags, ldflags = _compile_args()
    # WSFAST_BUILD_ONLY=mask,utf8 builds just those modules (development)
    only = {part.strip() for part in os.environ.get("WSFAST_BUILD_ONLY", "").split(",") if part.strip()}
    exts = []
    for name, pyx, c_files in EXTENSIONS:
        pyx_path = os.path.join(SRC, pyx)
        if not os.path.exists(os.path.join(HERE, pyx_path)):
            continue
        if only and name.split("._")[1].rsplit("_c", 1)[0] not in only:
            continue
        exts.append(
            Extension(
                name,
                [pyx_path] + sorted(set(c_files), key=c_files.index),
                include_dirs=[SRC],
                extra_compile_args=cflags,
                extra_link_args=ldflags,
            )
        )
    return cythonize(
        exts,
        compiler_directives={
            "language_level": 3,
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
            "embedsignature": True,
        },
        include_path=[SRC],
    )


class OptionalBuildExt(build_ext):
    """Build the extensions, but fall back to pure Python if the compiler fails."""

    def run(self):
        try:
            super().run()
        except Exception as exc:  # no compiler, missing headers, ...
            self._fallback(exc)

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except Exception as exc:
            self._fallback(exc)

    def _fallback(self, exc):
        if _flag("WSFAST_REQUIRE_EXTENSIONS"):
            raise exc
        print(f"wsfast: could not build the C extensions ({exc}); installing the pure-Python implementation")


setup(ext_modules=_extensions(), cmdclass={"build_ext": OptionalBuildExt})
