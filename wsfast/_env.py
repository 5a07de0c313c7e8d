"""Boolean environment flags (WSFAST_NO_EXTENSIONS, WSFAST_REQUIRE_EXTENSIONS, ...), read one way.

setup.py loads this file by path (the package cannot be imported while it is
being built), so the build and the runtime agree on what "set" means: any
value but empty, 0, false, no or off (any case, surrounding blanks ignored).
"""

from __future__ import annotations

import os
from typing import Mapping, Optional

__all__ = ["env_flag"]

_UNSET = ("", "0", "false", "no", "off")


def env_flag(name: str, environ: Optional[Mapping[str, str]] = None) -> bool:
    """True when the flag ``name`` is set in ``environ`` (default: os.environ)."""
    value = (os.environ if environ is None else environ).get(name, "")
    return value.strip().lower() not in _UNSET
