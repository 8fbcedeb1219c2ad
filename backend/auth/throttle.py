"""A sliding-window rate limiter (per key, per process, thread-safe).

Used for ``WIZARD_TEST_RATE_PER_MINUTE``: each API process counts its own tests, so behind
a load balancer with N processes a user may run up to N times the limit. (The login
throttle, which guards passwords, lives in the shared SQL store instead.)
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque


class SlidingWindow:
    def __init__(self, limit: int, window_s: float) -> None:
        self.limit, self.window_s = limit, window_s
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()
        self._last_sweep = time.monotonic()

    def hit(self, key: str) -> int:
        """Count one event for ``key``; return 0 if allowed, else seconds to wait (nothing counted)."""
        now = time.monotonic()
        with self._lock:
            self._sweep(now)
            hits = self._hits.setdefault(key, deque())
            while hits and hits[0] <= now - self.window_s:
                hits.popleft()
            if len(hits) >= self.limit:
                return max(1, math.ceil(hits[0] + self.window_s - now))
            hits.append(now)
            return 0

    def _sweep(self, now: float) -> None:
        """Forget keys with no event in the window (bounded memory)."""
        if now - self._last_sweep < self.window_s:
            return
        self._last_sweep = now
        for key in [k for k, v in self._hits.items() if not v or v[-1] <= now - self.window_s]:
            del self._hits[key]
