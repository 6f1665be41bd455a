"""Unit tests of devices.card_reader's logic on a fake pyscard layer (no pcscd needed).

They cover what a virtual reader cannot show: a reader unplugged while pcscd keeps running, a
monitor thread that crashes or hangs, and how each PC/SC answer maps to the errors flows see.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from devices import card_reader as cr
from devices.card_api import (
    ApduResponse,
    CardEventKind,
    CardRemoved,
    CardUnresponsive,
    NoCard,
    PcscUnavailable,
    ReaderGone,
)
from devices.health import HealthLevel
from tests.card.conftest import EventLog, wait_until

READER = "ACME Contactless 00 00"
ATR = bytes.fromhex("3B8F8001804F0CA000000306030001000000006A")


class FakeScard:
    """Just enough of pyscard's ``smartcard.scard`` for the driver, with knobs for the tests."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.service_up = True
        self.readers = [READER]
        self.card_in = False
        self.counter = 0
        self.contexts: set[int] = set()
        self.established = 0
        self.next_handle = 100
        self.transmit_result: tuple[int, list[int]] = (0, [0x90, 0x00])
        self.connect_result = 0
        self.crash_next_wait = False
        self.hang_next_wait: threading.Event | None = None
        self.cancelled: set[int] = set()

    def put_card(self, present: bool) -> None:
        with self.lock:
            if present != self.card_in:
                self.card_in, self.counter = present, self.counter + 1

    def restart_service(self) -> None:
        with self.lock:
            self.contexts.clear()  # every context of the old service is dead

    # ---- the pyscard functions the driver calls ----

    def SCardEstablishContext(self, scope: int) -> tuple[int, int]:
        with self.lock:
            if not self.service_up:
                return cr.SCARD_E_NO_SERVICE, 0
            self.established += 1
            context = 1000 + self.established
            self.contexts.add(context)
            return 0, context

    def SCardReleaseContext(self, context: int) -> int:
        with self.lock:
            self.contexts.discard(context)
        return 0

    def SCardCancel(self, context: int) -> int:
        self.cancelled.add(context)
        return 0

    def _alive(self, context: int) -> bool:
        return self.service_up and context in self.contexts

    def SCardListReaders(self, context: int, groups: list[str]) -> tuple[int, list[str]]:
        with self.lock:
            if not self._alive(context):
                return cr.SCARD_E_NO_SERVICE, []
            return (0, list(self.readers)) if self.readers else (cr.SCARD_E_NO_READERS_AVAILABLE, [])

    def SCardGetStatusChange(
        self, context: int, timeout_ms: int, states: list[tuple[str, int]]
    ) -> tuple[int, list[tuple[str, int, list[int]]]]:
        if self.crash_next_wait:
            self.crash_next_wait = False
            raise SystemError("pyscard wrapper failure")
        if self.hang_next_wait is not None:
            release, self.hang_next_wait = self.hang_next_wait, None
            release.wait(10)
        name, known = states[0]
        deadline_s = timeout_ms / 1000
        waited = 0.0
        while True:
            with self.lock:
                if not self._alive(context):
                    return cr.SCARD_E_NO_SERVICE, []
                if name not in self.readers:
                    return cr.SCARD_E_UNKNOWN_READER, []
                state = (self.counter << 16) | (cr.SCARD_STATE_PRESENT if self.card_in else cr.SCARD_STATE_EMPTY)
                atr = list(ATR) if self.card_in else []
            if state != known:
                return 0, [(name, state | cr.SCARD_STATE_CHANGED, atr)]
            if waited >= deadline_s:
                return cr.SCARD_E_TIMEOUT, [(name, state, atr)]
            threading.Event().wait(0.01)
            waited += 0.01

    def SCardConnect(self, context: int, reader: str, share: int, protocols: int) -> tuple[int, int, int]:
        with self.lock:
            if not self._alive(context):
                return cr.SCARD_E_NO_SERVICE, 0, 0
            if reader not in self.readers:
                return cr.SCARD_E_UNKNOWN_READER, 0, 0
            if not self.card_in:
                return cr.SCARD_E_NO_SMARTCARD, 0, 0
            if self.connect_result:
                return self.connect_result, 0, 0
            self.next_handle += 1
            return 0, self.next_handle, 2

    def SCardTransmit(self, handle: int, protocol: int, apdu: list[int]) -> tuple[int, list[int]]:
        return self.transmit_result

    def SCardDisconnect(self, handle: int, disposition: int) -> int:
        return 0


@pytest.fixture
def fake() -> FakeScard:
    return FakeScard()


@pytest.fixture
def events() -> EventLog:
    return EventLog()


@pytest.fixture
def reader(fake: FakeScard, events: EventLog) -> Iterator[cr.PcscCardReader]:
    driver = cr.PcscCardReader("contactless", poll_s=0.05, removal_check_s=0.2, hang_grace_s=0.3, scard=fake)
    driver.start(events)
    yield driver
    driver.stop()


def reason(reader: cr.PcscCardReader) -> str:
    return reader.health().reason


def test_the_reader_is_picked_by_a_part_of_its_name(fake: FakeScard, reader: cr.PcscCardReader) -> None:
    fake.readers = ["Virtual PCD 00 00", READER]
    assert wait_until(lambda: reader.health().ok, 2.0)
    fake.put_card(True)
    assert reader.transmit(b"\x00\xa4\x04\x00").ok


def test_no_matching_reader_is_critical_no_reader(fake: FakeScard, events: EventLog) -> None:
    fake.readers = ["Virtual PCD 00 00"]
    driver = cr.PcscCardReader("contactless", poll_s=0.05, scard=fake)
    driver.start(events)
    try:
        assert wait_until(lambda: reason(driver) == "no_reader", 2.0)
        assert driver.health().level is HealthLevel.CRITICAL
        with pytest.raises(ReaderGone):
            driver.transmit(b"\x00\xa4\x04\x00")
    finally:
        driver.stop()


def test_an_unplugged_reader_is_reader_gone_until_it_comes_back(
    fake: FakeScard, reader: cr.PcscCardReader, events: EventLog
) -> None:
    fake.put_card(True)
    events.wait_for(CardEventKind.INSERTED)
    with fake.lock:
        fake.readers = []
    assert wait_until(lambda: reason(reader) == "reader_gone", 2.0)
    assert reader.health().critical
    events.wait_for(CardEventKind.REMOVED)
    assert reader.atr is None

    before = len(events)
    with fake.lock:
        fake.readers = [READER]
    assert wait_until(lambda: reader.health().ok, 2.0)
    assert events.wait_for(CardEventKind.INSERTED, after=before).atr == ATR


def test_a_stale_context_after_a_pcscd_restart_is_replaced(fake: FakeScard, reader: cr.PcscCardReader) -> None:
    assert wait_until(lambda: reader.health().ok, 2.0)
    fake.service_up = False
    assert wait_until(lambda: reason(reader) == "pcscd_down", 2.0)
    established = fake.established
    fake.service_up = True
    fake.restart_service()
    assert wait_until(lambda: reader.health().ok, 2.0)
    assert fake.established > established


def test_a_crashed_monitor_is_restarted_and_health_says_so(
    fake: FakeScard, reader: cr.PcscCardReader, events: EventLog
) -> None:
    assert wait_until(lambda: reader.health().ok, 2.0)
    fake.crash_next_wait = True
    assert wait_until(lambda: reader.monitor_restarts == 1, 2.0)
    assert wait_until(lambda: reason(reader) == "monitor_restarted", 2.0)
    assert reader.health().level is HealthLevel.WARNING
    fake.put_card(True)  # the new monitor still delivers events
    events.wait_for(CardEventKind.INSERTED)


def test_a_hung_monitor_is_cancelled_and_replaced(fake: FakeScard, reader: cr.PcscCardReader, events: EventLog) -> None:
    assert wait_until(lambda: reader.health().ok, 2.0)
    release = threading.Event()
    fake.hang_next_wait = release
    try:
        assert wait_until(lambda: reader.monitor_restarts >= 1, 3.0)
        assert fake.cancelled  # the stuck wait was asked to give up
        fake.put_card(True)
        events.wait_for(CardEventKind.INSERTED)
    finally:
        release.set()


def test_a_card_swapped_between_two_waits_gives_removed_then_inserted(
    fake: FakeScard, reader: cr.PcscCardReader, events: EventLog
) -> None:
    fake.put_card(True)
    events.wait_for(CardEventKind.INSERTED)
    with fake.lock:
        fake.counter += 2  # out and in again faster than the monitor looked
    removed = events.wait_for(CardEventKind.REMOVED)
    assert events.events.index(removed) == 1
    events.wait_for(CardEventKind.INSERTED, after=2)


def test_a_listener_that_raises_does_not_stop_monitoring(fake: FakeScard) -> None:
    seen = EventLog()

    def clumsy(event: object) -> None:
        seen(event)  # type: ignore[arg-type]
        raise RuntimeError("listener bug")

    driver = cr.PcscCardReader(poll_s=0.05, scard=fake)
    driver.start(clumsy)
    try:
        fake.put_card(True)
        seen.wait_for(CardEventKind.INSERTED)
        fake.put_card(False)
        seen.wait_for(CardEventKind.REMOVED)
        assert driver.monitor_restarts == 0
    finally:
        driver.stop()


@pytest.mark.parametrize(
    ("pcsc_code", "error"),
    [
        (cr.SCARD_W_REMOVED_CARD, CardRemoved),
        (cr.SCARD_W_RESET_CARD, CardRemoved),
        (cr.SCARD_W_UNRESPONSIVE_CARD, CardUnresponsive),
        (cr.SCARD_E_READER_UNAVAILABLE, ReaderGone),
        (cr.SCARD_E_NO_SERVICE, PcscUnavailable),
        (cr.SCARD_E_INVALID_HANDLE, PcscUnavailable),
    ],
)
def test_transmit_failures_map_to_the_errors_flows_handle(
    fake: FakeScard, reader: cr.PcscCardReader, events: EventLog, pcsc_code: int, error: type[Exception]
) -> None:
    fake.put_card(True)
    events.wait_for(CardEventKind.INSERTED)
    fake.transmit_result = (pcsc_code, [])
    with pytest.raises(error):
        reader.transmit(b"\x00\xb0\x00\x00\x10")
    fake.transmit_result = (0, [0x01, 0x90, 0x00])
    assert reader.transmit(b"\x00\xb0\x00\x00\x01") == ApduResponse(b"\x01", 0x90, 0x00)


def test_an_answer_without_status_word_is_unresponsive_when_the_card_stays(
    fake: FakeScard, reader: cr.PcscCardReader, events: EventLog
) -> None:
    fake.put_card(True)
    events.wait_for(CardEventKind.INSERTED)
    fake.transmit_result = (0, [0x90])
    with pytest.raises(CardUnresponsive):
        reader.transmit(b"\x00\xb0\x00\x00\x10")
    assert reason(reader) == "card_error"


def test_an_answer_without_status_word_is_removed_when_the_card_left(
    fake: FakeScard, reader: cr.PcscCardReader, events: EventLog
) -> None:
    fake.put_card(True)
    events.wait_for(CardEventKind.INSERTED)
    fake.transmit_result = (cr.SCARD_E_NOT_TRANSACTED, [])
    threading.Timer(0.05, fake.put_card, args=(False,)).start()
    with pytest.raises(CardRemoved):
        reader.transmit(b"\x00\xb0\x00\x00\x10", timeout_s=2.0)


def test_no_card_and_bad_commands(fake: FakeScard, reader: cr.PcscCardReader) -> None:
    assert wait_until(lambda: reader.health().ok, 2.0)
    with pytest.raises(NoCard):
        reader.transmit(b"\x00\xa4\x04\x00")
    with pytest.raises(ValueError):
        reader.transmit(b"\x00\xa4")
    with pytest.raises(ValueError):
        reader.transmit(b"\x00\xa4\x04\x00", timeout_s=0)


def test_a_hanging_transmit_returns_unresponsive_at_the_timeout(
    fake: FakeScard, reader: cr.PcscCardReader, events: EventLog
) -> None:
    fake.put_card(True)
    events.wait_for(CardEventKind.INSERTED)
    release = threading.Event()
    answered = fake.transmit_result

    def stuck(handle: int, protocol: int, apdu: list[int]) -> tuple[int, list[int]]:
        release.wait(10)
        return answered

    fake.SCardTransmit = stuck  # type: ignore[method-assign]
    try:
        with pytest.raises(CardUnresponsive):
            reader.transmit(b"\x00\xb0\x00\x00\x10", timeout_s=0.3)
    finally:
        release.set()
    assert reader.transmit(b"\x00\xb0\x00\x00\x10").ok  # a new connection once the card answers


def test_health_before_start_and_after_stop(fake: FakeScard) -> None:
    driver = cr.PcscCardReader(poll_s=0.05, scard=fake)
    assert reason(driver) == "stopped"
    driver.start(EventLog())
    assert wait_until(lambda: driver.health().ok, 2.0)
    driver.stop()
    assert reason(driver) == "stopped"


def test_apdu_response_without_status_word_is_refused() -> None:
    with pytest.raises(CardUnresponsive):
        ApduResponse.from_bytes(b"\x90")
    assert ApduResponse.from_bytes(b"\x61\x10").sw == 0x6110
