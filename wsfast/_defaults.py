"""Default option values, defined once for the sans-I/O protocol and every I/O layer on it.

They follow websockets where it has the same option, so code moving between
the two behaves the same.
"""

from __future__ import annotations

from typing import Optional, Tuple

MAX_MESSAGE_SIZE: Optional[int] = 2**20  # bytes per message, summed over fragments (1009 beyond)
MAX_QUEUE: Optional[int] = 16  # received messages waiting for the application before reading pauses
PING_INTERVAL: Optional[float] = 20.0  # seconds between keepalive pings
PING_TIMEOUT: Optional[float] = 20.0  # seconds a keepalive ping may wait for its pong (1011 after)
OPEN_TIMEOUT: Optional[float] = 10.0  # seconds for TCP + TLS + the opening handshake
CLOSE_TIMEOUT: Optional[float] = 10.0  # seconds for the closing handshake (and to release a held failure)
# the transport's write buffer: send() waits above the high-water mark until it drains to the low one
WRITE_LIMIT: Tuple[int, int] = (32 * 1024, 8 * 1024)
# bytes a client may send after its request head, before the server has answered it
MAX_PENDING_AFTER_REQUEST = 1024 * 1024
