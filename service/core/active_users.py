"""Distinct users seen by this replica in a sliding window, for the micro_active_users gauge.

Memory is bounded: at most ``capacity`` users are remembered (the oldest are forgotten first), so
the figure saturates rather than grows. Per replica: a user served by two replicas counts on both.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable


class ActiveUsers:
    def __init__(self, window_s: float = 300.0, capacity: int = 200_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.window_s, self.capacity, self.clock = window_s, capacity, clock
        self._seen: OrderedDict[int, float] = OrderedDict()  # hash of the user key -> last seen, oldest first

    def touch(self, user_key: str) -> None:
        key = hash(user_key)
        self._seen.pop(key, None)
        self._seen[key] = self.clock()
        while len(self._seen) > self.capacity:
            self._seen.popitem(last=False)

    def count(self) -> int:
        """Users seen within the window (forgets the older ones)."""
        horizon = self.clock() - self.window_s
        while self._seen and next(iter(self._seen.values())) < horizon:
            self._seen.popitem(last=False)
        return len(self._seen)
