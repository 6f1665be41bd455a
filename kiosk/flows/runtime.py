"""What a flow needs from its host: a way to run slow work off the main loop.

Flows never import Kivy.  The app gives them a worker whose callbacks land on Kivy's main
loop; tests give them :class:`InlineWorker`, which runs everything at once, in order.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Message:
    """Text for a person, as a translation key and its parameters (the screens translate)."""

    key: str
    params: tuple[tuple[str, Any], ...] = ()

    @classmethod
    def of(cls, key: str, **params: Any) -> Message:
        return cls(key, tuple(sorted(params.items())))

    def param_dict(self) -> dict[str, Any]:
        return dict(self.params)


class Worker(Protocol):
    def submit(self, job: Callable[[], Any], done: Callable[[Any, BaseException | None], None]) -> None:
        """Run ``job`` off the main loop, then call ``done(result, error)`` on the main loop."""
        ...

    def post(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` on the main loop (from any thread)."""
        ...


class InlineWorker:
    """Runs jobs immediately on the calling thread: deterministic flows in unit tests."""

    def submit(self, job: Callable[[], Any], done: Callable[[Any, BaseException | None], None]) -> None:
        try:
            result = job()
        except Exception as exc:
            done(None, exc)
            return
        done(result, None)

    def post(self, callback: Callable[[], None]) -> None:
        callback()


class ThreadWorker:
    """One background thread for a flow's slow work, in order; callbacks go through ``post_to_main``.

    One thread (not a pool) keeps a flow's device and central calls in the order it issued them.
    """

    def __init__(self, post_to_main: Callable[[Callable[[], None]], None], name: str = "flow-worker") -> None:
        self._post_to_main = post_to_main
        self._jobs: queue.Queue[tuple[Callable[[], Any], Callable[[Any, BaseException | None], None]] | None] = (
            queue.Queue()
        )
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, job: Callable[[], Any], done: Callable[[Any, BaseException | None], None]) -> None:
        self._jobs.put((job, done))

    def post(self, callback: Callable[[], None]) -> None:
        self._post_to_main(callback)

    def stop(self, timeout_s: float = 5.0) -> None:
        self._jobs.put(None)
        self._thread.join(timeout_s)

    def _run(self) -> None:
        while True:
            item = self._jobs.get()
            if item is None:
                return
            job, done = item
            result: Any = None
            error: BaseException | None = None
            try:
                result = job()
            except Exception as exc:  # handed to the flow: it decides what the person sees and logs one line
                error = exc
            self._post_to_main(lambda d=done, r=result, e=error: d(r, e))  # type: ignore[misc]
