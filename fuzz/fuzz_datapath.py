"""Fuzz target (atheris): the compiled data path (DataPath, sort_events) against its pure twin.

Each input opens two identical worlds (our protocol and a peer, through a real handshake;
server or client, with or without permessage-deflate, failures sent at once or held back),
then runs the same script in both, one through each twin: the input's first bytes seed the
script's choices (tests/test_datapath.py's steps: peer messages and control frames, fragments,
our sends of every kind and size, closing, EOF), the rest goes to our protocol as raw
bytes from the peer, split where the input says, and we send three more messages. Both twins
must agree on every event, every byte sent, every error and the state after each step.
Under the sanitizer build (FUZZ_TARGET=fuzz_datapath fuzz/build_sanitized.sh) any memory
error aborts: the compiled twin reads the protocol's slots in place and frames small
messages itself.

    python fuzz/fuzz_datapath.py -runs=100000          # libFuzzer flags
"""

from __future__ import annotations

import os
import random
import sys

import atheris

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# the checkout, after PYTHONPATH: a sanitized build on PYTHONPATH wins
sys.path.append(ROOT)
sys.path.append(os.path.join(ROOT, "tests"))

with atheris.instrument_imports(include=["wsfast"]):
    from wsfast import _impl

from test_datapath import World, _error, _step, _summary  # noqa: E402

COMPILED = _impl.load("c")
PURE = _impl.load("python")


def _run(dp, fdp_bytes: bytes, side: str, deflate: bool, hold: bool, seed: int, cuts, parser):
    world = World(dp, parser, side, deflate, hold)
    rng = random.Random(seed)
    log = []
    for _ in range(6):
        _step(world, rng, log)
    # the rest of the input: raw bytes from the peer, in pieces
    start = 0
    for cut in sorted(cuts) + [len(fdp_bytes)]:
        piece = fdp_bytes[start:cut]
        start = max(start, cut)
        try:
            log.append([_summary(e) for e in world.datapath.receive(memoryview(piece))])
        except Exception as exc:
            log.append(_error(exc))
        log.append(world.wire_of_me(world.datapath.data_to_send()))
    # then only our side acts: the raw bytes may leave the parser inside a frame, and the peer's
    # next frames (masked with fresh random keys) would then be read as that frame's payload,
    # differently in each world
    for message in ("after", b"y" * 5000, "z" * 100):
        try:
            (world.datapath.send_text if isinstance(message, str) else world.datapath.send_binary)(message)
        except Exception as exc:
            log.append(_error(exc))
    log.append(world.wire_of_me(world.datapath.data_to_send()))
    log.append([_summary(e) for e in world.me.events()])
    me = world.me
    log.append((me.state, me.close_code, me.close_reason, me.failure_held))
    return log


def test_one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    side = "client" if fdp.ConsumeBool() else "server"
    deflate = fdp.ConsumeBool()
    hold = fdp.ConsumeBool()
    parser = COMPILED if fdp.ConsumeBool() else PURE
    seed = fdp.ConsumeIntInRange(0, 2**32 - 1)
    cuts = [fdp.ConsumeIntInRange(0, 512) for _ in range(fdp.ConsumeIntInRange(0, 4))]
    raw = fdp.ConsumeBytes(fdp.remaining_bytes())
    compiled = _run(COMPILED, raw, side, deflate, hold, seed, cuts, parser)
    pure = _run(PURE, raw, side, deflate, hold, seed, cuts, parser)
    if compiled != pure:
        raise AssertionError(f"the twins differ:\n{compiled}\n{pure}")


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
