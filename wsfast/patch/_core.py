"""The machinery every library's patch shares: check, record, swap, restore.

A patch is a list of (owner, attribute, replacement) triples, where the owner
is a module or a class of the patched library. Applying it:

1. refuses (a :class:`PatchWarning`, nothing changed) when the compiled hot
   path is not available: the pure-Python twins would slow the library down;
2. refuses the same way when the installed version is not one the patch was
   tested with: renamed internals and names bound at import time are exactly
   what turns an untested patch into a silent no-op, or worse;
3. reads every original first, and only then swaps them all, so a patch is
   applied whole or not at all;
4. keeps the originals exactly as they were found (the raw class ``__dict__``
   entry, so a staticmethod stays a staticmethod), for :func:`unpatch`.

Applying a library's patch twice returns the first record and changes nothing.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import sys
import threading
import types
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from ..exceptions import PatchWarning

__all__ = ["PatchWarning", "Replacement", "PatchRecord", "Target", "apply", "unpatch", "active_records"]


@dataclass(frozen=True)
class Replacement:
    """One attribute swapped: ``owner.name`` was ``original`` and is now ``replacement``."""

    owner: Any
    name: str
    original: Any
    replacement: Any

    @property
    def where(self) -> str:
        """Dotted name of what was replaced, e.g. ``tornado.websocket._websocket_mask``."""
        if isinstance(self.owner, types.ModuleType):
            return f"{self.owner.__name__}.{self.name}"
        return f"{self.owner.__module__}.{self.owner.__qualname__}.{self.name}"


@dataclass(frozen=True)
class PatchRecord:
    """What one library's patch replaced (returned by the patch function, undone by unpatch)."""

    library: str
    version: str
    replacements: Tuple[Replacement, ...]

    def names(self) -> List[str]:
        return [r.where for r in self.replacements]


@dataclass(frozen=True)
class Target:
    """How to patch one library: its distribution, the versions tested, and the plan.

    ``plan(impl)`` runs only after the checks passed; ``impl`` is the compiled
    hot path (a namespace from :func:`wsfast._impl.load`). It returns the
    triples (owner, attribute name, replacement) to swap.
    """

    library: str  # the name of the patch function
    module: str  # the name to import
    distribution: str  # the name pip knows, for the version
    tested: Tuple[str, ...]
    plan: Callable[[Any], Sequence[Tuple[Any, str, Any]]]


_lock = threading.RLock()
_records: Dict[str, PatchRecord] = {}


def active_records() -> Dict[str, PatchRecord]:
    """The patches in force, by library (a copy)."""
    with _lock:
        return dict(_records)


def _refuse(message: str) -> None:
    warnings.warn(f"wsfast.patch: {message}; nothing was changed", PatchWarning, stacklevel=4)


def _compiled() -> Optional[Any]:
    """The compiled hot path, or None (the reason is in the warning the caller gives)."""
    from .. import _impl
    from .._env import env_flag

    if env_flag("WSFAST_NO_EXTENSIONS"):
        return None
    try:
        return _impl.load("c")
    except ImportError:
        return None


def installed_version(distribution: str) -> Optional[str]:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def _raw(owner: Any, name: str) -> Any:
    """The attribute as stored: a class's own __dict__ entry (keeps staticmethod/classmethod)."""
    if isinstance(owner, type):
        if name not in owner.__dict__:
            raise AttributeError(f"{owner.__qualname__} defines no {name} of its own")
        return owner.__dict__[name]
    return getattr(owner, name)


def apply(target: Target) -> Optional[PatchRecord]:
    """Apply one library's patch: its record, or None when refused (with a PatchWarning)."""
    with _lock:
        done = _records.get(target.library)
        if done is not None:
            return done
        importlib.import_module(target.module)  # ImportError: the library is not installed
        impl = _compiled()
        if impl is None:
            _refuse(f"the compiled hot path is not available (WSFAST_NO_EXTENSIONS, or the "
                    f"extension did not build); the pure-Python twins would slow {target.library} down")
            return None
        version = installed_version(target.distribution) or "unknown"
        if version not in target.tested:
            _refuse(f"{target.distribution} {version} is not a version this patch was tested with "
                    f"({', '.join(target.tested)})")
            return None
        try:
            triples = list(target.plan(impl))
            found = [(owner, name, _raw(owner, name), new) for owner, name, new in triples]
        except (AttributeError, ImportError) as exc:  # an internal moved: the version check missed it
            _refuse(f"{target.distribution} {version} does not have what the patch replaces ({exc})")
            return None
        replacements = []
        for owner, name, original, new in found:
            setattr(owner, name, new)
            replacements.append(Replacement(owner, name, original, new))
        record = PatchRecord(target.library, version, tuple(replacements))
        _records[target.library] = record
        return record


def unpatch(library: Optional[str] = None) -> List[PatchRecord]:
    """Undo one library's patch (or all): the very same original objects are put back.

    An attribute that something else replaced after us is left alone (with a
    PatchWarning): putting our original back would undo that other change.
    Returns the records undone.
    """
    with _lock:
        names = [library] if library is not None else list(_records)
        undone = []
        for name in names:
            record = _records.pop(name, None)
            if record is None:
                continue
            for r in reversed(record.replacements):
                if _raw(r.owner, r.name) is not r.replacement:
                    warnings.warn(f"wsfast.patch: {r.where} was replaced by something else since it was "
                                  f"patched; left as it is", PatchWarning, stacklevel=2)
                    continue
                setattr(r.owner, r.name, r.original)
            undone.append(record)
        return undone


def loaded_module(name: str) -> Optional[types.ModuleType]:
    """A module already imported, else None (for optional targets we must not import ourselves)."""
    return sys.modules.get(name)
