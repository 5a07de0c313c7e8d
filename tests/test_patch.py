"""wsfast.patch: the API contract (records, idempotence, unpatch, refusals, the command line) and
what each patch replaces, checked against the real library: results equal to the library's own
code on the same inputs, and real connections over loopback with the patches in force.

The libraries' own test suites, run with the patches applied, are in .ci/suites.
"""

from __future__ import annotations

import importlib
import os
import random
import subprocess
import sys
import textwrap
import threading
import warnings

import pytest

import wsfast.patch
from wsfast.patch import PatchWarning, _core

LIBRARIES = ["websockets", "wsproto", "tornado", "websocket_client"]


def _require(library: str) -> None:
    """Skip unless the library is installed at a version its patch was tested with."""
    target = wsfast.patch.TARGETS[library]
    try:
        importlib.import_module(target.module)
    except ImportError:
        pytest.skip(f"{target.distribution} is not installed")
    version = _core.installed_version(target.distribution)
    if version not in target.tested:
        pytest.skip(f"{target.distribution} {version} is not a tested version ({', '.join(target.tested)})")
    try:
        importlib.import_module("wsfast._mask_c")
    except ImportError:
        pytest.skip("the compiled hot path is not built")


@pytest.fixture(autouse=True)
def _clean():
    wsfast.patch.unpatch()
    yield
    wsfast.patch.unpatch()


def _current(record):
    return [_core._raw(r.owner, r.name) for r in record.replacements]


# -- the contract ----------------------------------------------------------------------------------

@pytest.mark.parametrize("library", LIBRARIES)
def test_patch_records_what_it_replaced_and_unpatch_restores_the_same_objects(library):
    _require(library)
    record = getattr(wsfast.patch, library)()
    assert record is not None and record.library == library
    assert record.replacements, "a patch that replaces nothing"
    originals = [r.original for r in record.replacements]
    assert _current(record) == [r.replacement for r in record.replacements]
    assert all(r.replacement is not r.original for r in record.replacements)
    assert wsfast.patch.patched() == {library: record}
    # idempotent: the same record, nothing replaced twice
    assert getattr(wsfast.patch, library)() is record
    assert wsfast.patch.unpatch(library) == [record]
    assert all(now is was for now, was in zip(_current(record), originals))
    assert wsfast.patch.patched() == {}
    assert wsfast.patch.unpatch(library) == []


@pytest.mark.parametrize("library", LIBRARIES)
def test_untested_version_is_refused_with_a_warning_and_nothing_changed(library, monkeypatch):
    _require(library)
    record = getattr(wsfast.patch, library)()
    wsfast.patch.unpatch()
    before = _current(record)
    monkeypatch.setattr(_core, "installed_version", lambda dist: "0.0.1")
    with pytest.warns(PatchWarning, match=r"0\.0\.1 is not a version this patch was tested with"):
        assert getattr(wsfast.patch, library)() is None
    assert all(now is was for now, was in zip(_current(record), before))
    assert wsfast.patch.patched() == {}


@pytest.mark.parametrize("library", LIBRARIES)
def test_pure_python_only_is_refused_with_a_warning_and_nothing_changed(library, monkeypatch):
    _require(library)
    record = getattr(wsfast.patch, library)()
    wsfast.patch.unpatch()
    before = _current(record)
    monkeypatch.setenv("WSFAST_NO_EXTENSIONS", "1")
    with pytest.warns(PatchWarning, match="compiled hot path is not available"):
        assert getattr(wsfast.patch, library)() is None
    assert all(now is was for now, was in zip(_current(record), before))


def test_a_moved_internal_is_refused_whole(monkeypatch):
    """A target missing from the library (renamed internals) refuses the patch; nothing half-applied."""
    _require("tornado")
    import tornado.util
    import tornado.websocket

    original = tornado.util._websocket_mask
    monkeypatch.delattr(tornado.websocket, "_websocket_mask")
    with pytest.warns(PatchWarning, match="does not have what the patch replaces"):
        assert wsfast.patch.tornado() is None
    assert tornado.util._websocket_mask is original


def test_unpatch_leaves_alone_what_something_else_replaced_since():
    _require("tornado")
    import tornado.util

    record = wsfast.patch.tornado()
    assert record is not None

    def theirs(mask, data):
        return b""

    tornado.util._websocket_mask = theirs
    try:
        with pytest.warns(PatchWarning, match="replaced by something else"):
            wsfast.patch.unpatch("tornado")
        assert tornado.util._websocket_mask is theirs
    finally:
        tornado.util._websocket_mask = record.replacements[0].original


def test_unpatch_rejects_an_unknown_library():
    with pytest.raises(ValueError, match="unknown library"):
        wsfast.patch.unpatch("aiohttp")


# -- what each patch does, against the library's own code ------------------------------------------

def _payloads():
    rng = random.Random(1234)
    sizes = [0, 1, 2, 3, 4, 5, 7, 8, 15, 16, 17, 31, 63, 64, 65, 125, 126, 1000, 4096, 65535, 65536, 100_003]
    return [rng.randbytes(n) for n in sizes]


def test_tornado_mask_equals_tornados_own():
    _require("tornado")
    import tornado.util
    import tornado.websocket

    reference = tornado.util._websocket_mask_python
    assert wsfast.patch.tornado() is not None
    for data in _payloads()[:-1]:  # the pure-Python reference takes seconds on 100 kB
        for key in (b"abcd", b"\x00\xff\x10\x80"):
            assert tornado.websocket._websocket_mask(key, data) == reference(key, data)
    assert tornado.websocket._websocket_mask(b"ZXCV", b"98765432") == b"c`t`olpd"
    # any bytes-like data, like apply_mask; a wrong call raises, never crashes
    assert tornado.websocket._websocket_mask(b"abcd", bytearray(b"54321")) == b"TVPVP"
    assert tornado.websocket._websocket_mask(b"abcd", memoryview(b"x54321")[1:]) == b"TVPVP"
    assert tornado.websocket._websocket_mask(b"abcd", memoryview(b"5x4x3x2x1")[::2]) == b"TVPVP"
    with pytest.raises(TypeError):
        tornado.websocket._websocket_mask(b"abcd")
    assert tornado.websocket._websocket_mask(mask=b"abcd", data=b"54321") == b"TVPVP"
    with pytest.raises(ValueError):
        tornado.websocket._websocket_mask(b"abc", b"data")


def test_websocket_client_mask_and_utf8_equal_their_own():
    _require("websocket_client")
    from websocket import _abnf, _utils

    mask_before = _abnf.ABNF.mask
    validate_before = _utils._validate_utf8
    assert wsfast.patch.websocket_client() is not None
    for data in _payloads():
        assert _abnf.ABNF.mask(b"\x01\x02\x03\x04", data) == mask_before(b"\x01\x02\x03\x04", data)
    # str key and data are latin-1, None is empty, as before
    assert _abnf.ABNF.mask("abcd", "h\xe9llo") == mask_before("abcd", "h\xe9llo")
    assert _abnf.ABNF.mask(b"abcd", None) == mask_before(b"abcd", None) == b""
    frame = _abnf.ABNF(1, 0, 0, 0, _abnf.ABNF.OPCODE_TEXT, 1, "hello")
    frame.get_mask_key = lambda n: b"\x10\x20\x30\x40"
    masked = bytes(a ^ b for a, b in zip(b"hello", b"\x10\x20\x30\x40\x10"))
    assert frame.format()[-9:] == b"\x10\x20\x30\x40" + masked
    samples = [b"", b"hello", "h\xe9llo \u20ac \U0001f600".encode(), b"\xc3", b"\xc3\x28", b"\xed\xa0\x80",
               b"\xf4\x90\x80\x80", b"\xff", b"ok\xe2\x82", b"\xc0\xaf", "\u00e9".encode() * 5000,
               "\u00e9".encode() * 5000 + b"\xe2\x82", b"\xe2\x82\xff"]
    for sample in samples:
        assert _utils.validate_utf8(sample) == _abnf.validate_utf8(sample) == validate_before(sample), sample
    for text in ("", "\u03ba\u1f79\u03c3\u03bc\u03b5", "a\ud800b"):  # str: encoded with surrogatepass first
        assert _abnf.validate_utf8(text) == (text != "a\ud800b")


def test_wsproto_masker_keeps_the_key_rotation_across_chunks():
    _require("wsproto")
    import wsproto.frame_protocol as fp

    original = fp.XorMaskerSimple
    assert wsfast.patch.wsproto() is not None
    assert fp.XorMaskerSimple is not original and issubclass(fp.XorMaskerSimple, original)
    rng = random.Random(7)
    data = rng.randbytes(10_000)
    for key in (b"\x01\x02\x03\x04", bytearray(b"wxyz")):
        ours, theirs = fp.XorMaskerSimple(key), original(key)
        pos = 0
        while pos < len(data):
            n = rng.choice([0, 1, 2, 3, 5, 64, 1001])
            got = ours.process(data[pos:pos + n])
            assert type(got) is bytearray
            assert got == theirs.process(data[pos:pos + n])
            pos += n


def test_websockets_apply_mask_is_replaced_where_frames_bound_it():
    _require("websockets")
    import websockets.frames
    from websockets.frames import Frame, Opcode

    record = wsfast.patch.websockets()
    assert "websockets.frames.apply_mask" in record.names()
    # a masked frame written and parsed back through websockets' own Frame code
    from websockets.streams import StreamReader

    frame = Frame(Opcode.BINARY, bytes(range(256)) * 300)
    wire = frame.serialize(mask=True)
    reader = StreamReader()
    reader.feed_data(wire)
    parser = Frame.parse(reader.read_exact, mask=True)
    with pytest.raises(StopIteration) as stop:
        next(parser)
    assert stop.value.value == frame
    assert websockets.frames.apply_mask is importlib.import_module("wsfast._mask_c").apply_mask


# -- real connections over loopback, patched on both ends ------------------------------------------

def test_tornado_server_and_websocket_client_patched_over_loopback():
    _require("tornado")
    _require("websocket_client")
    import asyncio

    import tornado.web
    import tornado.websocket
    import websocket

    assert wsfast.patch.tornado() is not None and wsfast.patch.websocket_client() is not None
    started = threading.Event()
    state = {}

    class Echo(tornado.websocket.WebSocketHandler):
        def on_message(self, message):
            self.write_message(message, binary=isinstance(message, bytes))

    async def serve():
        app = tornado.web.Application([(r"/", Echo)])
        server = app.listen(0, "127.0.0.1")
        state["port"] = next(iter(server._sockets.values())).getsockname()[1]
        state["stop"] = asyncio.Event()
        state["loop"] = asyncio.get_running_loop()
        started.set()
        await state["stop"].wait()
        server.stop()

    thread = threading.Thread(target=asyncio.run, args=(serve(),), daemon=True)
    thread.start()
    assert started.wait(30)
    try:
        ws = websocket.create_connection(f"ws://127.0.0.1:{state['port']}/", timeout=30)
        try:
            rng = random.Random(3)
            for n in (0, 1, 125, 126, 65535, 65536, 300_000):
                text = "".join(rng.choice("ab\u00e9\u20ac\U0001f600") for _ in range(n // 4))
                ws.send(text)
                assert ws.recv() == text
                data = rng.randbytes(n)
                ws.send_binary(data)
                assert ws.recv() == data
        finally:
            ws.close()
    finally:
        state["loop"].call_soon_threadsafe(state["stop"].set)
        thread.join(30)


# -- the command line ------------------------------------------------------------------------------

def _run(args, tmp_path, env=None):
    full_env = dict(os.environ)
    full_env.pop("WSFAST_NO_EXTENSIONS", None)
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "wsfast.patch", *args], cwd=tmp_path, env=full_env,
                          capture_output=True, text=True, timeout=120)


def test_command_line_runs_a_script_patched_with_its_arguments(tmp_path):
    _require("tornado")
    script = tmp_path / "app.py"
    script.write_text(textwrap.dedent("""
        import sys
        import tornado.websocket
        print(__name__, sys.argv[1:], tornado.websocket._websocket_mask.__name__)
        sys.exit(3)
    """))
    done = _run(["--verbose", "--only", "tornado", str(script), "a", "--b"], tmp_path)
    assert done.returncode == 3, done.stderr
    assert done.stdout.split() == ["__main__", "['a',", "'--b']", "mask_key_first"]
    assert "wsfast.patch: tornado 6.6.1: tornado.util._websocket_mask" in done.stderr


def test_command_line_runs_a_module_patched(tmp_path):
    _require("websocket_client")
    (tmp_path / "appmod.py").write_text(
        "import sys, websocket._utils as u\nprint(sys.argv[1:], u._validate_utf8.__module__)\n")
    done = _run(["-m", "appmod", "x", "-q", "--only", "y"], tmp_path)  # options after -m are the program's
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['x', '-q', '--only', 'y'] wsfast.patch._websocket_client"


def test_command_line_strict_fails_when_a_patch_is_refused(tmp_path):
    _require("tornado")
    script = tmp_path / "app.py"
    script.write_text("print('ran')\n")
    done = _run(["--strict", "--only", "tornado", str(script)], tmp_path, {"WSFAST_NO_EXTENSIONS": "1"})
    assert done.returncode == 2 and "ran" not in done.stdout
    assert "compiled hot path is not available" in done.stderr
    # without --strict the program runs, unpatched, after the warning
    done = _run(["--only", "tornado", str(script)], tmp_path, {"WSFAST_NO_EXTENSIONS": "1"})
    assert done.returncode == 0 and done.stdout.strip() == "ran"
    assert "nothing was changed" in done.stderr


def test_command_line_rejects_unknown_libraries(tmp_path):
    done = _run(["--only", "aiohttp", "x.py"], tmp_path)
    assert done.returncode != 0 and "unknown library aiohttp" in done.stderr


def test_patch_warning_is_a_runtime_warning():
    assert issubclass(PatchWarning, RuntimeWarning)
    with warnings.catch_warnings():
        warnings.simplefilter("error", PatchWarning)
        with pytest.raises(PatchWarning):
            warnings.warn("x", PatchWarning, stacklevel=1)


# -- the benchmark's echo servers run patched (and refuse to run unpatched when asked to patch) -----

@pytest.mark.parametrize("library", ["websockets", "tornado"])
def test_benchmark_echo_servers_run_patched(library):
    _require(library)
    pytest.importorskip("picows")
    import asyncio

    from wsfast.bench import patch as section
    from wsfast.bench.echo import _Client, _Server

    server = _Server(library, env={"WSFAST_BENCH_PATCH": library})
    loop = asyncio.new_event_loop()
    try:
        client = _Client(loop, server.port)
        client.check(os.urandom(70_000))  # raises unless every echo is exact
        sample = section._echo_probe(server, client, b"x" * 64, 1)()
        assert sample["cpu"] > 0 and sample["wall"] > 0
        client.close()
    finally:
        server.stop()
        loop.close()
    with pytest.raises(RuntimeError, match="did not start"):
        _Server(library, env={"WSFAST_BENCH_PATCH": library, "WSFAST_NO_EXTENSIONS": "1"})
