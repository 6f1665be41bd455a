"""The host: which journey is active, where device events go, and its observers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from devices.camera_api import DecodedCode
from devices.card_api import CardEvent, CardEventKind
from devices.health import Health, HealthLevel
from kiosk.availability import Availability
from kiosk.flows.pickup import Step
from kiosk.flows.runtime import Message
from kiosk.host import HOME
from kiosk.observers import Observers
from tests.support.fakes import build_rig

QR = DecodedCode(text="TK1.order.sig", raw=b"TK1.order.sig", decoder="zxing")
CARD_IN = CardEvent(CardEventKind.INSERTED, "Virtual PCD 00 00", b"\x3b\x00")


def test_a_qr_at_home_starts_the_pickup_journey(tmp_path: Path) -> None:
    rig = build_rig(tmp_path)
    assert rig.host.active is None and rig.host.screen == HOME
    rig.host.qr(QR)
    assert rig.host.active is rig.flow
    assert rig.host.screen == "pickup.review"
    assert rig.central.looked_up == [("qr", QR.text)]


def test_a_qr_at_home_while_out_of_service_is_refused_on_the_home_screen(tmp_path: Path) -> None:
    rig = build_rig(tmp_path, availability=Availability(printer=Health(HealthLevel.CRITICAL, "cover_open")))
    rig.host.qr(QR)
    assert rig.host.active is None and rig.central.looked_up == []  # no review screen that cannot print
    assert rig.host.home.notice == Message.of("home.qr_out_of_service")


def test_a_card_at_home_with_no_card_journey_says_so(tmp_path: Path) -> None:
    rig = build_rig(tmp_path)
    rig.host.card(CARD_IN)
    assert rig.host.active is None
    assert rig.host.home.notice == Message.of("home.card_not_supported")
    rig.clock.now += 60
    rig.host.tick()
    assert rig.host.home.notice is None  # the notice goes away by itself


def test_a_card_at_home_goes_to_the_registered_card_handler(tmp_path: Path) -> None:
    rig = build_rig(tmp_path)
    seen: list[CardEvent] = []

    def year_cards(event: CardEvent) -> bool:
        seen.append(event)
        return True

    rig.host.set_card_handler(year_cards)
    rig.host.card(CARD_IN)
    assert seen == [CARD_IN] and rig.host.home.notice is None


def test_the_active_journey_ends_and_the_session_end_is_announced(tmp_path: Path) -> None:
    rig = build_rig(tmp_path)
    ended: list[str] = []
    rig.host.session_ended.subscribe(ended.append)
    assert rig.host.start("pickup")
    assert rig.host.screen == "pickup.enter_code"
    rig.flow.cancel()
    assert rig.host.active is None and ended == ["pickup"]


def test_a_printer_health_change_reaches_the_active_journey(tmp_path: Path) -> None:
    rig = build_rig(tmp_path)
    seen: list[Health] = []
    rig.flow.printer_health_changed = seen.append  # type: ignore[method-assign,assignment]
    rig.host.start("pickup")
    fixed = Health(HealthLevel.OK, "")
    rig.host.availability_changed(Availability(printer=Health(HealthLevel.CRITICAL, "cover_open")), Availability())
    assert seen == [fixed]


def test_listeners_unsubscribe_and_one_failing_observer_does_not_stop_the_others(tmp_path: Path) -> None:
    rig = build_rig(tmp_path)
    states: list[Step] = []
    unsubscribe = rig.flow.subscribe(lambda state: states.append(state.step))
    rig.host.start("pickup")
    unsubscribe()
    rig.flow.cancel()
    assert states == [Step.ENTER_CODE]

    observers: Observers[[int]] = Observers("test observer")
    got: list[int] = []

    def broken(_value: int) -> None:
        raise RuntimeError("a recorder's disk is full")

    observers.subscribe(broken)
    observers.subscribe(got.append)
    observers.notify(7)
    assert got == [7]


def test_a_result_of_an_ended_session_is_dropped(tmp_path: Path) -> None:
    """The session guard: a lookup answered after Cancel does not bring its order back."""
    parked: list[Callable[[], None]] = []

    class ParkedWorker:
        def submit(self, job: Callable[[], Any], done: Callable[[Any, BaseException | None], None]) -> None:
            parked.append(lambda: done(job(), None))

        def post(self, callback: Callable[[], None]) -> None:
            callback()

    rig = build_rig(tmp_path, worker=ParkedWorker())
    rig.host.qr(QR)
    assert rig.flow.state.step is Step.LOOKING_UP
    rig.flow.cancel()
    parked.pop()()  # the central answers now
    assert rig.flow.state.step is Step.IDLE and rig.host.active is None
