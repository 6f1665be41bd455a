"""The kiosk's one clock: monotonic time, wall time and sleeping, injectable.

The running kiosk uses :data:`SYSTEM_CLOCK`.  A replay gives every part the same
:class:`VirtualClock`, which moves only when the replayer moves it, so a session with a
60 s outage replays in a moment and every timeout fires at the recorded instant.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class KioskClock(Protocol):
    def monotonic(self) -> float: ...

    def wall(self) -> datetime: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def wall(self) -> datetime:
        return datetime.now(UTC)

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


SYSTEM_CLOCK = SystemClock()


class VirtualClock:
    """Time that moves only when told: ``set_elapsed`` to a recorded instant, or ``sleep``."""

    def __init__(self, wall_start: datetime, monotonic_start: float = 1000.0) -> None:
        if wall_start.tzinfo is None:
            raise ValueError("the wall start must carry a time zone")
        self._wall_start = wall_start
        self._monotonic_start = monotonic_start
        self._elapsed = 0.0
        self._lock = threading.Lock()

    @property
    def elapsed(self) -> float:
        with self._lock:
            return self._elapsed

    def set_elapsed(self, seconds: float) -> None:
        """Move to ``seconds`` after the start; time never goes back."""
        with self._lock:
            self._elapsed = max(self._elapsed, seconds)

    def monotonic(self) -> float:
        with self._lock:
            return self._monotonic_start + self._elapsed

    def wall(self) -> datetime:
        with self._lock:
            return self._wall_start + timedelta(seconds=self._elapsed)

    def sleep(self, seconds: float) -> None:
        """Passes at once: the recorded timeline already holds the time a back-off took."""
