"""What a type checker sees of the public hot path: real classes and signatures, never Any.

Not a pytest module: .ci/typecheck.sh runs ``mypy --strict`` on it, and every
``assert_type`` below fails the check if the inferred type differs (an ``Any``
would).
"""

from __future__ import annotations

from typing import List, Optional, Union

from typing_extensions import assert_type

import wsfast

Event = Union[wsfast.TextMessage, wsfast.BinaryMessage, wsfast.Ping, wsfast.Pong, wsfast.Close]

parser = wsfast.FrameParser(client=True, max_message_size=None)
assert_type(parser, wsfast.FrameParser)
assert_type(parser.feed(b"\x81\x00"), List[Event])
assert_type(parser.max_message_size, Optional[int])
assert_type(parser.error, Optional[wsfast.ProtocolError])

for event in parser.feed(bytearray(b"\x88\x00")):
    if isinstance(event, wsfast.TextMessage):
        assert_type(event.data, str)
    elif isinstance(event, wsfast.Close):
        assert_type(event.code, wsfast.CloseCode)
        assert_type(event.reason, str)
    else:
        assert_type(event.data, bytes)
    assert_type(event.opcode, wsfast.Opcode)

assert_type(wsfast.apply_mask(b"data", b"\x01\x02\x03\x04"), bytes)
assert_type(wsfast.apply_mask_inplace(bytearray(4), b"\x01\x02\x03\x04", 0), int)
assert_type(wsfast.validate_utf8(memoryview(b"text")), bool)
validator = wsfast.Utf8Validator()
assert_type(validator.feed(b"\xc3"), bool)
assert_type(validator.finish(), bool)
assert_type(wsfast.encode_frame(wsfast.Opcode.TEXT, "hi", mask=True), bytes)
assert_type(wsfast.encode_message(wsfast.Opcode.BINARY, b"x" * 10, fragment_size=4), List[bytes])
assert_type(wsfast.TextMessage("hi"), wsfast.TextMessage)
assert_type(wsfast.Close(1000, "bye").data, bytes)
