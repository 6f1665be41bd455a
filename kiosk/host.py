"""The home screen's logic: which journeys are offered now, which one is active, where events go.

Plain Python, no Kivy.  The host owns the kiosk's journeys (pickup today; the year-card,
lost-ticket and staff journeys register the same way) and routes every device event, on the
main loop:

* a decoded QR goes to the active journey; at home it starts the pickup journey when the kiosk
  can hand out tickets, and is refused on the home screen when it cannot (out of service);
* a card inserted or removed goes to the active journey, else to the registered card handler
  (the year-card journey, when a PSAM is configured); with none registered the home screen says so;
* camera frames go to whoever subscribed (a face check, later);
* a change of the printer's health goes to the active journey (a review screen that waits for a
  closed cover or new paper).

The home screen reads :attr:`KioskHost.home` (an immutable snapshot); every change of the host
or of any journey is announced to :meth:`KioskHost.subscribe` listeners.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from devices.camera_api import DecodedCode
from devices.card_api import CardEvent, CardEventKind
from devices.health import Health
from kiosk.availability import Availability
from kiosk.flows.journey import Journey
from kiosk.flows.runtime import Message
from kiosk.observers import Observers, Unsubscribe

log = logging.getLogger(__name__)

HOME = "home"  # the home screen's name; a journey's screens are named "<journey>.<step>"
NOTICE_S = 8.0  # a notice on the home screen (a QR or card it could not take) stays this long

# Which journey needs what from the kiosk to be offered.
JourneyOffer = Callable[[Availability], bool]


@dataclass(frozen=True)
class HomeState:
    """What the home screen shows."""

    offered: tuple[str, ...] = ()  # journeys a person can start now, in the order registered
    notice: Message | None = None  # why the last QR or card was not taken (goes away by itself)


class KioskHost:
    def __init__(self, availability: Callable[[], Availability], now: Callable[[], float]) -> None:
        self._availability = availability
        self._now = now
        self._journeys: dict[str, Journey[Any]] = {}
        self._offers: dict[str, JourneyOffer] = {}
        self._qr_journey: str | None = None  # the journey a QR at home starts
        self._card_handler: Callable[[CardEvent], bool] | None = None
        self._home = HomeState()
        self._notice_until = 0.0
        self._active: str | None = None
        self._changes: Observers[[]] = Observers("host listener", isolate=False)
        self.frames: Observers[[Any]] = Observers("frame observer")  # camera frames (grey images)
        self.session_ended: Observers[[str]] = Observers("session-end observer")  # journey name

    # -- journeys ---------------------------------------------------------------------------

    def register(self, journey: Journey[Any], offered_when: JourneyOffer, *, starts_on_qr: bool = False) -> None:
        if journey.name in self._journeys or journey.name == HOME:
            raise ValueError(f"a journey named {journey.name!r} is already registered")
        self._journeys[journey.name] = journey
        self._offers[journey.name] = offered_when
        if starts_on_qr:
            self._qr_journey = journey.name
        journey.subscribe(lambda _state, name=journey.name: self._journey_changed(name))  # type: ignore[misc]
        self._home = HomeState(self._offered(), self._home.notice)

    def set_card_handler(self, handler: Callable[[CardEvent], bool] | None) -> None:
        """Who takes a card at home (the year-card journey); None: the home screen says "not supported"."""
        self._card_handler = handler

    def journey(self, name: str) -> Journey[Any]:
        return self._journeys[name]

    def now(self) -> float:
        """The kiosk's monotonic clock (seconds)."""
        return self._now()

    @property
    def journeys(self) -> tuple[str, ...]:
        return tuple(self._journeys)

    @property
    def active(self) -> Journey[Any] | None:
        """The journey a person is on (None: the home screen shows)."""
        return self._journeys[self._active] if self._active is not None else None

    @property
    def home(self) -> HomeState:
        return self._home

    @property
    def screen(self) -> str:
        """The screen to show: ``home`` or ``<journey>.<step>``."""
        active = self.active
        return HOME if active is None else f"{active.name}.{active.step.value}"

    def subscribe(self, listener: Callable[[], None]) -> Unsubscribe:
        """Told after every change of the host or of a journey (on the thread that changed it)."""
        return self._changes.subscribe(listener)

    def start(self, name: str) -> bool:
        """A person chose a journey on the home screen.  False when it is not offered now."""
        if self.active is not None and self._active != name:
            return False
        if name not in self._offered():
            log.info("the %s journey is not offered now", name)
            return False
        starter = getattr(self._journeys[name], "start", None)
        if starter is None:
            return False
        self._clear_notice()
        starter()
        return True

    def _offered(self) -> tuple[str, ...]:
        try:
            availability = self._availability()
        except Exception:  # a broken health probe must not take the home screen down
            log.exception("availability check failed")
            availability = Availability(central_reachable=False)
        return tuple(name for name, offer in self._offers.items() if offer(availability))

    def _journey_changed(self, name: str) -> None:
        journey = self._journeys[name]
        if not journey.is_idle:
            self._active = name
        elif self._active == name:
            self._active = None
            self.session_ended.notify(name)
        self._changes.notify()

    # -- device events (on the main loop) ---------------------------------------------------

    def qr(self, code: DecodedCode) -> None:
        active = self.active
        if active is not None:
            active.handle_qr(code)  # a journey that does not want it ignores it (the next person's code)
            return
        if self._qr_journey is None:
            log.info("a QR code at home, and no journey takes QR codes")
            return
        if self._qr_journey not in self._offered():
            log.info("a QR code at home while out of service: refused on the home screen")
            self._notify_home(Message.of("home.qr_out_of_service"))
            return
        self._clear_notice()
        self._journeys[self._qr_journey].handle_qr(code)

    def card(self, event: CardEvent) -> None:
        active = self.active
        if active is not None and active.handle_card(event):
            return
        if active is None and self._card_handler is not None and self._card_handler(event):
            return
        log.info("card %s on %r: no journey took it", event.kind.value, event.reader)
        if active is None and event.kind is CardEventKind.INSERTED:
            self._notify_home(Message.of("home.card_not_supported"))

    def frame(self, gray: Any) -> None:
        """A camera frame (a journey that looks at faces subscribes to :attr:`frames`)."""
        self.frames.notify(gray)

    def printer_health_changed(self, health: Health) -> None:
        active = self.active
        if active is not None:
            active.printer_health_changed(health)
        self._refresh_home()

    def availability_changed(self, before: Availability, after: Availability) -> None:
        """The app saw the kiosk's availability change (the monitor's last round)."""
        if before.printer != after.printer:
            self.printer_health_changed(after.printer)
        else:
            self._refresh_home()

    # -- time -------------------------------------------------------------------------------

    def tick(self) -> None:
        active = self.active
        if active is not None:
            active.tick()
        else:  # the idle journeys still count down what they keep across sessions
            for journey in self._journeys.values():
                journey.tick()
        if self._home.notice is not None and self._now() >= self._notice_until:
            self._clear_notice()

    # -- the home screen ----------------------------------------------------------------------

    def _notify_home(self, notice: Message) -> None:
        self._notice_until = self._now() + NOTICE_S
        self._set_home(HomeState(self._offered(), notice))

    def _clear_notice(self) -> None:
        if self._home.notice is not None:
            self._set_home(HomeState(self._offered(), None))

    def _refresh_home(self) -> None:
        self._set_home(HomeState(self._offered(), self._home.notice))

    def _set_home(self, home: HomeState) -> None:
        if home != self._home:
            self._home = home
            self._changes.notify()
