"""A replay's worker: the journeys' background jobs, one step at a time, delivered by the timeline."""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable
from typing import Any

STEP_TIMEOUT_S = 20.0  # real seconds a background job may take to reach its next step


class ReplayStuck(Exception):
    """The app did not do what the timeline needs next (a job that never reaches its step)."""



class SteppedWorker:
    """Runs the flow's jobs on one thread that stops at each callback until the timeline delivers it.

    ``submit`` and each delivery return only once the job thread stands still again (parked at
    its next callback, or idle), so the app moves exactly as one thread would: deterministic.
    """

    def __init__(self, deliver_hook: Callable[[Callable[[], None]], None]) -> None:
        self._deliver_hook = deliver_hook
        self._cond = threading.Condition()
        self._jobs: collections.deque[tuple[Callable[[], Any], Callable[[Any, BaseException | None], None]]] = \
            collections.deque()
        self._ready: collections.deque[Callable[[], None]] = collections.deque()  # callbacks for the main loop
        self._busy = False
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="replay-worker", daemon=True)
        self._thread.start()

    def submit(self, job: Callable[[], Any], done: Callable[[Any, BaseException | None], None]) -> None:
        with self._cond:
            self._jobs.append((job, done))
            self._busy = True
            self._cond.notify_all()
        self.settle()

    def post(self, callback: Callable[[], None]) -> None:
        """From the job thread: park until the timeline delivers ``callback``."""
        with self._cond:
            self._ready.append(callback)
            self._busy = False
            self._cond.notify_all()
            self._cond.wait_for(lambda: callback not in self._ready or self._closing)

    def deliver_next(self) -> None:
        self.settle()
        with self._cond:
            if not self._ready:
                raise ReplayStuck("the session delivers a job's result here, but the app has no job waiting")
            callback = self._ready.popleft()
            if _is_from_job(callback):
                self._busy = True  # the job thread was parked on it: it runs on to its next step
            self._cond.notify_all()
        self.settle()
        self._deliver_hook(callback)

    def pending(self) -> int:
        with self._cond:
            return len(self._ready)

    def settle(self) -> None:
        with self._cond:
            if not self._cond.wait_for(lambda: not self._busy, STEP_TIMEOUT_S):
                raise ReplayStuck(f"a background job did not reach its next step within {STEP_TIMEOUT_S} s")

    def stop(self) -> None:
        with self._cond:
            self._closing = True
            self._jobs.clear()
            self._cond.notify_all()

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: bool(self._jobs) or self._closing)
                if self._closing:
                    return
                job, done = self._jobs.popleft()
                self._busy = True
            result: Any = None
            error: BaseException | None = None
            try:
                result = job()
            except Exception as exc:  # handed to the flow, as the kiosk's worker does
                error = exc

            def finished(d: Callable[[Any, BaseException | None], None] = done, r: Any = result,
                         e: BaseException | None = error) -> None:
                d(r, e)

            with self._cond:
                self._ready.append(finished)
                self._busy = bool(self._jobs)
                self._cond.notify_all()


def _is_from_job(callback: Callable[[], None]) -> bool:
    return getattr(callback, "_from_job", False) is True


def _mark_from_job(callback: Callable[[], None]) -> Callable[[], None]:
    def wrapped() -> None:
        callback()

    wrapped._from_job = True  # type: ignore[attr-defined]
    return wrapped


class SteppedWorkerFacade:
    """What the flow sees: posts from the job thread are marked so a delivery resumes that thread."""

    def __init__(self, worker: SteppedWorker) -> None:
        self.inner = worker

    def submit(self, job: Callable[[], Any], done: Callable[[Any, BaseException | None], None]) -> None:
        self.inner.submit(job, done)

    def post(self, callback: Callable[[], None]) -> None:
        self.inner.post(_mark_from_job(callback))

    def stop(self) -> None:
        self.inner.stop()
