"""A deflate bomb against a wsfast server in its own process: 1009 on the wire, memory bounded.

The client agrees permessage-deflate, then sends one ~250 KiB compressed frame
that inflates to 256 MiB, to a server whose size limit is 1 MiB. The server
must stop inflating at the limit and close with 1009, and its peak resident
memory (VmHWM, measured in the server process itself) may grow by no more
than the limit + 16 MiB (the compressed frame in its read buffers and
allocator slack) over what it was once the connection was open.
"""

from __future__ import annotations

import asyncio
import sys
import zlib

import pytest
from _aio_peers import kill_process, python_child
from _aio_util import IMPLEMENTATIONS, impl_or_skip, run

from wsfast import CloseCode
from wsfast.asyncio import ConnectionClosedError, connect

pytestmark = [
    pytest.mark.parametrize("kind", IMPLEMENTATIONS),
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads VmHWM from /proc/self/status"),
]

LIMIT = 1 << 20
INFLATED = 256 << 20

SERVER = """
import asyncio, sys
from wsfast.asyncio import serve

def peak():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024

async def handler(ws):
    print("OPEN", peak(), flush=True)
    try:
        async for message in ws:
            print("MESSAGE", len(message), flush=True)
    except Exception:
        pass
    print("CLOSED", int(ws.close_code), peak(), flush=True)

async def main():
    async with serve(handler, "127.0.0.1", 0, max_message_size=%d, implementation=sys.argv[1],
                     ping_interval=None) as server:
        print("PORT", server.sockets[0].getsockname()[1], flush=True)
        await asyncio.sleep(3600)

asyncio.run(main())
"""


def bomb() -> bytes:
    """INFLATED zero bytes compressed as one permessage-deflate message (flush marker removed)."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = bytes(1 << 20)
    out = [c.compress(chunk) for _ in range(INFLATED >> 20)]
    out.append(c.flush(zlib.Z_SYNC_FLUSH))
    return b"".join(out)[:-4]


async def next_line(proc, prefix: bytes) -> list:
    while True:
        line = await asyncio.wait_for(proc.stdout.readline(), 60)
        assert line, f"the server exited before {prefix!r}"
        if line.startswith(prefix):
            return line.split()[1:]


def test_deflate_bomb_ends_with_1009_and_bounded_memory(kind):
    impl = impl_or_skip(kind)
    payload = bomb()
    assert len(payload) < 300 * 1024

    async def main():
        code = SERVER.replace("%d", str(LIMIT)).replace("sys.argv[1]", repr(kind))
        server = await python_child(code)
        try:
            (port,) = await next_line(server, b"PORT")
            async with connect(f"ws://127.0.0.1:{int(port)}", implementation=impl, ping_interval=None) as ws:
                assert ws.protocol.deflate is not None
                (before,) = await next_line(server, b"OPEN")
                # the bomb, as a masked compressed frame written as is
                ws.transport.write(impl.encode_frame(2, payload, mask=True, rsv1=True))
                with pytest.raises(ConnectionClosedError) as info:
                    await asyncio.wait_for(ws.recv(), 60)
                assert info.value.code == CloseCode.MESSAGE_TOO_BIG
            closed_code, after = await next_line(server, b"CLOSED")
            assert int(closed_code) == CloseCode.MESSAGE_TOO_BIG
            growth = int(after) - int(before)
            print(f"\n{kind}: bomb of {len(payload)} B (inflates to {INFLATED >> 20} MiB), limit {LIMIT} B: "
                  f"server peak RSS grew by {growth / 2**20:.1f} MiB")
            assert growth <= LIMIT + (16 << 20), growth
        finally:
            await kill_process(server)

    run(main(), 120)
