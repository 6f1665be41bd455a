"""Clocks that move only when a test moves them: timeouts and countdowns without real waits."""

from __future__ import annotations

from datetime import UTC, datetime


class ManualClock:
    """Monotonic seconds, as ``time.monotonic`` gives them; ``clock.now += 5`` or ``advance(5)``."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class ManualWallClock:
    """Wall time (aware, UTC), starting now unless told; a test sets ``clock.now``."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now
