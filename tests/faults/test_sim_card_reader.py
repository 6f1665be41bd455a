"""The in-process card reader: the same events, errors and health as the real driver."""

from __future__ import annotations

import threading

import pytest

from devices.card_api import CardEvent, CardEventKind, CardRemoved, CardUnresponsive, NoCard, ReaderGone
from devices.health import HealthLevel
from devices.sim.card_emulator import DEFAULT_AID, DEFAULT_ATR
from devices.sim.card_reader_sim import GARBAGE_ATR, SIM_READER_NAME, SimCardReader

SELECT_APP = bytes.fromhex("00A40400") + bytes([len(DEFAULT_AID)]) + DEFAULT_AID
READ_FILE_1 = bytes.fromhex("00B0000010")
SELECT_FILE_1 = bytes.fromhex("00A4020C020001")


@pytest.fixture
def events() -> list[CardEvent]:
    return []


@pytest.fixture
def reader(events: list[CardEvent]) -> SimCardReader:
    sim = SimCardReader()
    sim.start(events.append)
    return sim


def kinds(events: list[CardEvent]) -> list[CardEventKind]:
    return [event.kind for event in events]


def test_default_card_answers_select_and_read(reader: SimCardReader, events: list[CardEvent]) -> None:
    assert reader.readers() == [SIM_READER_NAME]
    with pytest.raises(NoCard):
        reader.transmit(SELECT_APP)
    reader.insert()
    assert events == [CardEvent(CardEventKind.INSERTED, SIM_READER_NAME, DEFAULT_ATR)]
    assert reader.atr == DEFAULT_ATR
    assert reader.transmit(SELECT_APP).ok
    assert reader.transmit(SELECT_FILE_1).ok
    assert reader.transmit(READ_FILE_1).data == b"KIOSK-TEST-CARD\x00"
    reader.remove()
    assert kinds(events) == [CardEventKind.INSERTED, CardEventKind.REMOVED]
    assert reader.atr is None


def test_a_card_already_on_the_reader_is_announced_at_start() -> None:
    sim = SimCardReader()
    sim.insert()
    seen: list[CardEvent] = []
    sim.start(seen.append)
    assert kinds(seen) == [CardEventKind.INSERTED]
    assert sim.health().ok


def test_card_pulled_mid_command_is_card_removed_and_a_removed_event(
    reader: SimCardReader, events: list[CardEvent]
) -> None:
    reader.insert()
    reader.pull_on_next_command()
    with pytest.raises(CardRemoved):
        reader.transmit(SELECT_APP)
    assert kinds(events) == [CardEventKind.INSERTED, CardEventKind.REMOVED]
    with pytest.raises(NoCard):
        reader.transmit(SELECT_APP)


def test_stalled_card_is_unresponsive_and_health_warns_until_a_good_answer(reader: SimCardReader) -> None:
    reader.insert()
    reader.stall_next(5.0)
    with pytest.raises(CardUnresponsive):
        reader.transmit(SELECT_APP, timeout_s=0.05)
    assert (reader.health().level, reader.health().reason) == (HealthLevel.WARNING, "card_error")
    assert reader.transmit(SELECT_APP).ok
    assert reader.health().ok


def test_a_card_removed_while_stalled_ends_the_wait_with_card_removed(reader: SimCardReader) -> None:
    reader.insert()
    reader.stall_next(30.0)
    outcome: list[BaseException] = []

    def command() -> None:
        try:
            reader.transmit(SELECT_APP, timeout_s=30.0)
        except CardRemoved as exc:
            outcome.append(exc)

    worker = threading.Thread(target=command)
    worker.start()
    while not reader.commands:
        threading.Event().wait(0.01)
    reader.remove()
    worker.join(timeout=5.0)
    assert not worker.is_alive() and len(outcome) == 1


def test_unreadable_card_and_failed_status_words(reader: SimCardReader, events: list[CardEvent]) -> None:
    reader.insert_unreadable()
    assert events[-1].atr == GARBAGE_ATR
    answer = reader.transmit(SELECT_APP)
    assert (answer.sw, answer.data) == (0x6F00, b"")
    reader.insert()  # a good card replaces it: removed, then inserted
    assert kinds(events)[-2:] == [CardEventKind.REMOVED, CardEventKind.INSERTED]
    reader.fail_next(b"\x69\x82")
    assert reader.transmit(SELECT_APP).sw == 0x6982
    assert reader.transmit(SELECT_APP).ok


def test_reader_gone_and_back(reader: SimCardReader, events: list[CardEvent]) -> None:
    reader.insert()
    reader.unplug()
    assert kinds(events) == [CardEventKind.INSERTED, CardEventKind.REMOVED]
    assert reader.readers() == []
    assert (reader.health().level, reader.health().reason) == (HealthLevel.CRITICAL, "reader_gone")
    with pytest.raises(ReaderGone):
        reader.transmit(SELECT_APP)
    with pytest.raises(ReaderGone):
        reader.insert()
    reader.plug()
    assert reader.health().ok
    reader.insert()
    assert reader.transmit(SELECT_APP).ok


def test_stopped_reader_is_critical_and_bad_commands_are_refused(reader: SimCardReader) -> None:
    with pytest.raises(ValueError):
        reader.transmit(b"\x00\xa4")
    reader.stop()
    assert (reader.health().level, reader.health().reason) == (HealthLevel.CRITICAL, "stopped")
