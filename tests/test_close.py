"""Close payloads: what we send is checked strictly (never rewritten), what we get follows the policy."""

from __future__ import annotations

import pytest

from wsfast import CloseCode, ProtocolError
from wsfast.close import MAX_REASON_BYTES, build_close_payload, check_close, parse_close_payload


@pytest.mark.parametrize("code", [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014,
                                  3000, 3999, 4000, 4999])
def test_sendable_codes_round_trip(code):
    payload = build_close_payload(code, "bye")
    assert payload == code.to_bytes(2, "big") + b"bye"
    assert parse_close_payload(payload) == (code, "bye")
    assert isinstance(parse_close_payload(payload)[0], CloseCode)


@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535, -1])
def test_unsendable_codes_are_value_errors(code):
    with pytest.raises(ValueError, match=str(code)):
        build_close_payload(code)


def test_reason_limit_is_123_utf8_bytes():
    assert len(build_close_payload(1000, "a" * MAX_REASON_BYTES)) == 125
    with pytest.raises(ValueError, match="124 bytes"):
        build_close_payload(1000, "a" * 124)
    # 41 three-byte characters = 123 bytes fit; one more byte does not (the limit counts bytes, not chars)
    assert len(build_close_payload(1000, "\u20ac" * 41)) == 125
    with pytest.raises(ValueError):
        build_close_payload(1000, "\u20ac" * 41 + "a")
    with pytest.raises(ValueError):  # a lone surrogate cannot be UTF-8
        build_close_payload(1000, "\ud800")


def test_no_code():
    assert build_close_payload(None) == b""
    with pytest.raises(ValueError):
        build_close_payload(None, "a reason needs a code")
    assert parse_close_payload(b"") == (CloseCode.NO_STATUS_RECEIVED, "")


def test_bad_types():
    for code in ("1000", 1000.0, True):
        with pytest.raises(TypeError):
            check_close(code)
    with pytest.raises(TypeError):
        check_close(1000, b"bytes reason")


@pytest.mark.parametrize("payload, code", [
    (b"\x03", 1002),
    (b"\x03\xed", 1002),  # 1005 may not be received either
    (b"\x03\xee", 1002),
    (b"\x05\xdc", 1002),  # 1500
    (b"\x13\x88", 1002),  # 5000
    (b"\x03\xe8\xff", 1007),
    (b"\x03\xe8" + b"a" * 124, 1002),
])
def test_received_payloads_violating_the_policy(payload, code):
    with pytest.raises(ProtocolError) as info:
        parse_close_payload(payload)
    assert info.value.close_code == code
