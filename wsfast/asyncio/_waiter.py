"""What ``recv()`` waits on when no message is queued: a future the read path can resume at once.

An :class:`asyncio.Future` always runs its callbacks through ``loop.call_soon``:
a task waiting on one resumes on the *next* pass of the event loop. For a
handler that answers every message (one message in flight: chat, games, RPC)
that is one more loop iteration per message — an ``epoll_wait``, a Handle, the
loop's bookkeeping — between reading the message and writing the answer.

:meth:`Waiter.resume_now` runs the waiting task's step right away, inside the
read callback, as a plain ``asyncio.Protocol`` echo answers inside
``data_received``. A task cannot start a step while another task runs (nor can
a context be entered twice): then nothing has run, and the step is scheduled as
``set_result`` would. :meth:`Waiter.resume_soon` always schedules it (timers,
``connection_lost``). Cancellation (``Task.cancel``, ``wait_for``'s timeout)
works as for any future: the task is scheduled with ``CancelledError``.

It is an :class:`asyncio.Future` (everything but the task's wake-up is the C
implementation's): a task waiting on a future subclass registers its wake-up
with ``add_done_callback``, which keeps it here instead of in the future's list.
"""

from __future__ import annotations

import asyncio
import contextvars
from typing import Any, Callable, Optional, Tuple

__all__ = ["Waiter"]

_set_result = asyncio.Future.set_result


class Waiter(asyncio.Future):  # type: ignore[type-arg]
    """A future resolved with None by :meth:`resume_now` (the task steps in place) or
    :meth:`resume_soon` (scheduled)."""

    _wakeup: Optional[Tuple[Callable[[Any], Any], Any]] = None  # the waiting task's (callback, context)

    def add_done_callback(self, fn: Callable[[Any], Any], *, context: Any = None) -> None:
        if self._wakeup is None and not self.done():
            self._wakeup = (fn, contextvars.copy_context() if context is None else context)
        else:
            super().add_done_callback(fn, context=context)

    def remove_done_callback(self, fn: Callable[[Any], Any]) -> int:
        wakeup = self._wakeup
        if wakeup is not None and wakeup[0] == fn:
            self._wakeup = None
            return 1 + super().remove_done_callback(fn)
        return super().remove_done_callback(fn)

    def set_result(self, result: Any) -> None:
        """As for any future: the waiting task resumes on the next loop pass."""
        super().set_result(result)
        self._schedule()

    def set_exception(self, exception: Any) -> None:
        super().set_exception(exception)
        self._schedule()

    def cancel(self, msg: Any = None) -> bool:
        if not super().cancel(msg=msg):
            return False
        self._schedule()
        return True

    def resume_soon(self) -> None:
        """Resolve it; the waiting task resumes on the next loop pass (``set_result``)."""
        if not self.done():
            self.set_result(None)

    def resume_now(self) -> bool:
        """Resolve it and run the waiting task's next step before returning.

        False when the step could not run here and was scheduled instead
        (called from a running task), or when it was already resolved.
        """
        if self.done():
            return False
        _set_result(self, None)  # the future's own: the wake-up is ours to run
        wakeup = self._wakeup
        if wakeup is None:
            return False
        self._wakeup = None
        fn, context = wakeup
        try:
            context.run(fn, self)
        except RuntimeError:
            # a task is running (we were called from one), or the context is entered already:
            # either refuses before the step starts, so nothing ran; schedule it instead
            self.get_loop().call_soon(fn, self, context=context)
            return False
        return True

    def _schedule(self) -> None:
        wakeup = self._wakeup
        if wakeup is not None:
            self._wakeup = None
            self.get_loop().call_soon(wakeup[0], self, context=wakeup[1])
