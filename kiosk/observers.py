"""Observers that many can subscribe to: the recorder, the dev panel, the UI driver, tests.

Plain Python, no Kivy.  ``subscribe`` returns the function that unsubscribes.  One observer's
failure is logged and never reaches the others or the code that announced the change.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Generic, ParamSpec

log = logging.getLogger(__name__)

P = ParamSpec("P")

Unsubscribe = Callable[[], None]


class Observers(Generic[P]):
    """A list of callbacks, each told of every announcement in the order they subscribed."""

    def __init__(self, name: str = "observer", *, isolate: bool = True) -> None:
        """``isolate=False``: an observer's exception propagates (a flow's own listeners, tests)."""
        self._name = name
        self._isolate = isolate
        self._callbacks: list[Callable[P, None]] = []
        self._lock = threading.Lock()

    def subscribe(self, callback: Callable[P, None]) -> Unsubscribe:
        with self._lock:
            self._callbacks.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._callbacks:
                    self._callbacks.remove(callback)

        return unsubscribe

    def __len__(self) -> int:
        return len(self._callbacks)

    def __bool__(self) -> bool:
        return bool(self._callbacks)

    def notify(self, *args: P.args, **kwargs: P.kwargs) -> None:
        with self._lock:
            callbacks = list(self._callbacks)
        for callback in callbacks:
            if not self._isolate:
                callback(*args, **kwargs)
                continue
            try:
                callback(*args, **kwargs)
            except Exception:  # a recorder's or a panel's fault must never take the kiosk down
                log.exception("%s failed", self._name)
