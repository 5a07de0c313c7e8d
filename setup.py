"""Build script: the compiled hot path is optional.

WSFAST_NO_EXTENSIONS=1 at build time, a missing compiler or a failed compile
all give a working pure-Python install (and say so); WSFAST_SANITIZE=1 builds
the extensions with AddressSanitizer + UBSan for fuzzing.

permessage-deflate: the frame parser links zlib (its C API) when a test
program with zlib.h and -lz compiles and links here (Linux, macOS; the
manylinux images have zlib-devel). Where it does not (Windows wheels), or
with WSFAST_NO_ZLIB=1, the compiled build runs its compression on Python's
zlib module instead, and says so at build time (``wsfast._frames_c.ZLIB``
says which at run time).
"""

import importlib.util
import os
import sys
import tempfile

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
DEFLATE_C = _c_sources("deflate")

# (module, pyx, C kernels it links, whether it wants zlib)
EXTENSIONS = [
    ("wsfast._mask_c", "_mask_c.pyx", MASK_C, False),
    ("wsfast._utf8_c", "_utf8_c.pyx", ["src/wsf_cpu.c"] + UTF8_C, False),
    ("wsfast._frames_c", "_frames_c.pyx", MASK_C + UTF8_C + DEFLATE_C, True),
    ("wsfast._stream_c", "_stream_c.pyx", MASK_C, False),
    ("wsfast._datapath_c", "_datapath_c.pyx", [], False),
]


def _have_zlib() -> bool:
    """True if a program using zlib's C API (inflateGetDictionary: zlib >= 1.2.7.1) compiles and links."""
    if _flag("WSFAST_NO_ZLIB"):
        print("wsfast: WSFAST_NO_ZLIB is set, permessage-deflate runs on Python's zlib module")
        return False
    try:
        from setuptools._distutils.ccompiler import new_compiler
        from setuptools._distutils.sysconfig import customize_compiler
    except ImportError:  # pragma: no cover - very old setuptools
        from distutils.ccompiler import new_compiler
        from distutils.sysconfig import customize_compiler
    compiler = new_compiler()
    customize_compiler(compiler)
    with tempfile.TemporaryDirectory() as tmp:
        source = os.path.join(tmp, "have_zlib.c")
        with open(source, "w") as f:
            f.write("#include <zlib.h>\n"
                    "int main(void) { z_stream s = {0}; unsigned char b[1]; uInt n = 0;\n"
                    "  inflateInit2(&s, -15); inflateGetDictionary(&s, b, &n); inflateEnd(&s);\n"
                    "  return zlibVersion() == 0; }\n")
        try:
            objects = compiler.compile([source], output_dir=tmp)
            compiler.link_executable(objects, os.path.join(tmp, "have_zlib"), libraries=["z"])
        except Exception as exc:  # CompileError, LinkError, no compiler at all
            print(f"wsfast: zlib could not be linked ({type(exc).__name__}); "
                  "permessage-deflate runs on Python's zlib module")
            return False
    return True


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
    zlib = None  # checked once, when a module wants it
    for name, pyx, c_files, wants_zlib in EXTENSIONS:
        pyx_path = os.path.join(SRC, pyx)
        if not os.path.exists(os.path.join(HERE, pyx_path)):
            continue
        if only and name.split("._")[1].rsplit("_c", 1)[0] not in only:
            continue
        macros, libraries = [], []
        if wants_zlib:
            if zlib is None:
                zlib = _have_zlib()
            if zlib:
                macros, libraries = [("WSF_HAVE_ZLIB", "1")], ["z"]
        exts.append(
            Extension(
                name,
                [pyx_path] + sorted(set(c_files), key=c_files.index),
                include_dirs=[SRC],
                define_macros=macros,
                libraries=libraries,
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
