"""What every journey shares (pickup today; year-cards, lost-ticket recovery and staff mode next).

Plain Python, no Kivy.  A journey is a state machine over an immutable state snapshot:

* listeners subscribe to every change and get back the function that unsubscribes them;
* the session guard: every reset starts a new session, and a worker's result that comes back
  for an ended session (the person pressed Cancel, timed out, walked away) is dropped;
* idle timers: a person who stops touching the screen is asked "still there?", then the
  journey goes back to its idle step; a finished journey's last screen goes away by itself;
* refusals: a journey refuses with a message and a hint (translation keys); the central's
  refusals are normal business and are logged as one line, never with a traceback;
* device events: the host offers a journey the QR codes, cards and printer health changes it
  sees; a journey says whether it took them.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from backend_client.errors import CentralBadAnswer, CentralRefused, CentralUnreachable, KioskUnauthorized
from backend_client.wire import ErrorCode
from devices.camera_api import DecodedCode
from devices.card_api import CardEvent
from devices.health import Health
from kiosk.flows.runtime import Message, Worker
from kiosk.observers import Observers, Unsubscribe

log = logging.getLogger(__name__)


class IdleTimeouts(Protocol):
    """How long a journey waits for a person (a config section has these)."""

    @property
    def idle_timeout_s(self) -> float: ...

    @property
    def still_there_s(self) -> float: ...

    @property
    def done_screen_s(self) -> float: ...


@dataclass(frozen=True)
class NavView:
    """What Back and Cancel say and allow on a journey's current step (translation keys)."""

    back_enabled: bool = True
    cancel_key: str = "nav.cancel"
    cancel_enabled: bool = True


@dataclass(frozen=True)
class JourneyState:
    """The fields every journey's state has besides its own ``step``."""

    refusal: Message | None = None
    refusal_hint: Message | None = None  # what to do next
    still_there: bool = False


S = TypeVar("S", bound=JourneyState)


class Journey(Generic[S]):
    """The base of every journey.  Subclasses set ``name``, the steps below and their own events."""

    name: ClassVar[str]
    IDLE_STEP: ClassVar[enum.Enum]
    REFUSED_STEP: ClassVar[enum.Enum]
    FINISHED_STEPS: ClassVar[frozenset[Any]] = frozenset()  # a result on show: goes away after done_screen_s
    BUSY_STEPS: ClassVar[frozenset[Any]] = frozenset()  # the kiosk is working: no idle timer
    REFUSAL_HINTS: ClassVar[Mapping[ErrorCode, str]] = {}

    def __init__(self, initial: S, *, worker: Worker, timeouts: IdleTimeouts, now: Callable[[], float]) -> None:
        self._initial = initial
        self._state = initial
        self._worker = worker
        self._timeouts = timeouts
        self._now = now
        self._listeners: Observers[[S]] = Observers(f"{self.name} listener", isolate=False)
        self._session = 0  # bumps on every reset: late results of an abandoned session are dropped
        self._last_activity = now()

    # -- observation ------------------------------------------------------------------------

    @property
    def state(self) -> S:
        return self._state

    @property
    def step(self) -> enum.Enum:
        step: enum.Enum = getattr(self._state, "step")  # noqa: B009  (every journey's state has one)
        return step

    @property
    def is_idle(self) -> bool:
        """Nobody is on this journey: the home screen shows."""
        return self.step is self.IDLE_STEP

    def subscribe(self, listener: Callable[[S], None]) -> Unsubscribe:
        return self._listeners.subscribe(listener)

    def _set(self, **changes: object) -> None:
        self._state = replace(self._state, **changes)  # type: ignore[arg-type]
        self._listeners.notify(self._state)

    def _touch(self) -> None:
        self._last_activity = self._now()

    # -- the session guard ------------------------------------------------------------------

    @property
    def session(self) -> int:
        return self._session

    def _end_session(self) -> None:
        """Whatever is still running for the current session reports to nobody."""
        self._session += 1

    def _submit(self, job: Callable[[], Any], done: Callable[[Any, BaseException | None], None]) -> None:
        """Run ``job`` on the worker; ``done`` runs only if the session is still the same then."""
        session = self._session

        def guarded(result: Any, error: BaseException | None) -> None:
            if session != self._session:
                log.debug("%s: a result of an ended session was dropped", self.name)
                return
            done(result, error)

        self._worker.submit(job, guarded)

    def _post_guarded(self, session: int, callback: Callable[[], None]) -> None:
        """From a job's thread: run ``callback`` on the main loop if ``session`` is still current."""
        self._worker.post(lambda: callback() if session == self._session else None)

    def _reset_state(self) -> None:
        """Back to the initial state in a new session."""
        self._end_session()
        self._set(**{f: getattr(self._initial, f) for f in type(self._initial).__dataclass_fields__})

    def reset(self) -> None:
        self._reset_state()

    # -- what the home screen and the nav bar do --------------------------------------------

    def start(self) -> None:
        """A person chose this journey on the home screen."""
        raise NotImplementedError

    def back(self) -> None:
        self._touch()
        self.reset()

    def cancel(self) -> None:
        self._touch()
        self.reset()

    @property
    def nav(self) -> NavView:
        return NavView()

    # -- time -------------------------------------------------------------------------------

    def keep_going(self) -> None:
        """The person answered the "still there?" prompt."""
        self._touch()
        if self._state.still_there:
            self._set(still_there=False)

    def tick(self) -> None:
        """Called about once a second by the host: idle timeouts and the "still there?" prompt."""
        step = self.step
        if step is self.IDLE_STEP or step in self.BUSY_STEPS:
            return
        idle_for = self._now() - self._last_activity
        if step in self.FINISHED_STEPS:
            if idle_for >= self._timeouts.done_screen_s:
                self.reset()
            return
        if idle_for >= self._timeouts.idle_timeout_s:
            log.info("%s session timed out on %s", self.name, step.value)
            self.reset()
        elif idle_for >= self._timeouts.idle_timeout_s - self._timeouts.still_there_s and not self._state.still_there:
            self._set(still_there=True)

    # -- refusals ---------------------------------------------------------------------------

    def _refuse(self, refusal: Message, hint: Message | None, **changes: object) -> None:
        self._set(step=self.REFUSED_STEP, refusal=refusal, refusal_hint=hint, still_there=False, **changes)

    def _refuse_for(self, error: BaseException) -> None:
        """The person's message for a failed call; one log line (a refusal is normal business)."""
        if isinstance(error, KioskUnauthorized):
            log.warning("%s refused: the central does not accept this kiosk's credential", self.name)
            self._refuse(Message.of("refusal.kiosk_unauthorized"), Message.of("hint.see_staff"))
        elif isinstance(error, CentralRefused):
            log.info("%s refused by the central: %s", self.name, error.code.value)
            params = {k: v for k, v in error.details.items() if isinstance(v, str | int | float)}
            self._refuse(self._refusal_message(error, params),
                         Message.of(self.REFUSAL_HINTS.get(error.code, "hint.see_staff")))
        elif isinstance(error, CentralUnreachable):
            log.warning("%s: the central is unreachable (%s)", self.name, error)
            self._refuse(Message.of("refusal.offline"), Message.of("hint.offline"))
        elif isinstance(error, CentralBadAnswer):
            log.warning("%s: the central's answer was not usable (%s)", self.name, error)
            self._refuse(Message.of("refusal.central_error"), Message.of("hint.try_again_later"))
        else:  # a bug: this one deserves its traceback
            log.error("unexpected failure in the %s journey", self.name, exc_info=error)
            self._refuse(Message.of("refusal.kiosk_error"), Message.of("hint.see_staff"))

    def _refusal_message(self, error: CentralRefused, params: dict[str, str | int | float]) -> Message:
        """The text of a central's refusal, with the facts it gave (a journey may say it its own way)."""
        return Message.of(f"refusal.{error.code.value}", **params)

    # -- device events the host offers ------------------------------------------------------

    def handle_qr(self, code: DecodedCode) -> bool:
        """A decoded QR while this journey is active (or to start it).  True: taken."""
        return False

    def handle_card(self, event: CardEvent) -> bool:
        """A card inserted or removed while this journey is active.  True: taken."""
        return False

    def printer_health_changed(self, health: Health) -> None:
        """The printer's health changed (a cover closed, paper refilled, a fault)."""
