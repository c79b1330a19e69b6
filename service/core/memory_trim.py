"""Hand memory that requests freed back to the operating system.

glibc's malloc keeps what a request freed in its arenas (one per thread that allocated: the
event loop, the tokenizer threads, the forward's worker thread), so after a burst of large
requests the resident size stays near its peak although the memory is free. ``malloc_trim(0)``
returns the free pages of every arena. :class:`MemoryTrimmer` runs it in a thread, one run at a
time (a request finishing meanwhile asks for one more run), after each request whose body
reached ``MICRO_TRIM_AFTER_BYTES``. Without glibc (musl, macOS) it does nothing.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
from collections.abc import Callable


def malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None where there is none."""
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


class MemoryTrimmer:
    """``request()`` from the event loop: a trim runs soon, in a thread, never two at once."""

    def __init__(self, trim: Callable[[int], int] | None = None) -> None:
        self._trim = trim if trim is not None else malloc_trim()
        self._task: asyncio.Task | None = None
        self._again = False
        self.runs = 0  # trims done (for tests)

    def request(self) -> None:
        if self._trim is None:
            return
        if self._task is not None and not self._task.done():
            self._again = True  # memory freed after the running trim started: one more run
            return
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        self._again = True
        while self._again:
            self._again = False
            await asyncio.to_thread(self._trim, 0)
            self.runs += 1
