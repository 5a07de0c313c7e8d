"""Type aliases for the public API (buffers are anything with the buffer protocol)."""

from __future__ import annotations

from typing import Union

Buffer = Union[bytes, bytearray, memoryview]
WritableBuffer = Union[bytearray, memoryview]
