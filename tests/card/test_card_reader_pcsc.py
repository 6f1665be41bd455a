"""The card reader driver through a real pcscd, with our card behind vsmartcard's virtual reader."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from devices.card_api import CardEventKind, CardRemoved, CardUnresponsive, PcscUnavailable, ReaderGone
from devices.card_reader import PcscCardReader
from devices.health import HealthLevel
from devices.sim.card_emulator import DEFAULT_AID, DEFAULT_ATR, VIRTUAL_READER, CardEmulator
from devices.sim.faults import FaultRunner, FaultScript, FaultTargets
from tests.card.conftest import READY_TIMEOUT_S, EventLog, Pcsc, wait_until

SELECT_APP = bytes.fromhex("00A40400") + bytes([len(DEFAULT_AID)]) + DEFAULT_AID
SELECT_EF_1 = bytes.fromhex("00A4000C020001")
READ_16 = bytes.fromhex("00B0000010")


def insert_and_wait(card: CardEmulator, events: EventLog) -> None:
    seen = len(events)
    card.insert()
    events.wait_for(CardEventKind.INSERTED, after=seen)


def test_both_virtual_readers_are_listed(reader: PcscCardReader) -> None:
    names = reader.readers()
    assert VIRTUAL_READER in names
    assert "Virtual PCD 00 01" in names


def test_insert_and_remove_reach_the_listener_with_the_atr(
    reader: PcscCardReader, card: CardEmulator, events: EventLog
) -> None:
    assert reader.atr is None
    card.insert()
    inserted = events.wait_for(CardEventKind.INSERTED)
    assert inserted.reader == VIRTUAL_READER
    assert inserted.atr == DEFAULT_ATR
    assert reader.atr == DEFAULT_ATR
    card.remove()
    removed = events.wait_for(CardEventKind.REMOVED)
    assert removed.reader == VIRTUAL_READER
    assert reader.atr is None
    assert reader.health().ok


def test_a_card_already_in_the_reader_is_announced_at_start(pcsc: Pcsc, card: CardEmulator) -> None:
    card.atr = bytes.fromhex("3B8F8001804F0CA000000306030001000000006A")  # a contactless storage card's ATR
    card.insert()
    events = EventLog()
    late_reader = PcscCardReader(VIRTUAL_READER, poll_s=0.2)
    late_reader.start(events)
    try:
        assert events.wait_for(CardEventKind.INSERTED).atr == card.atr
    finally:
        late_reader.stop()


def test_apdu_round_trip_reads_and_writes_the_card(
    reader: PcscCardReader, card: CardEmulator, events: EventLog
) -> None:
    insert_and_wait(card, events)
    assert reader.transmit(SELECT_APP).ok
    assert reader.transmit(SELECT_EF_1).ok
    first = reader.transmit(READ_16)
    assert first.ok
    assert first.data == b"KIOSK-TEST-CARD\x00"

    assert reader.transmit(bytes.fromhex("00D600000403") + b"VIP").ok
    assert reader.transmit(READ_16).data.startswith(b"\x03VIP")
    assert card.card is not None and bytes(card.card.files[1][:4]) == b"\x03VIP"

    unknown = reader.transmit(bytes.fromhex("00A4040005A000000001"))
    assert (unknown.sw1, unknown.sw2, unknown.ok) == (0x6A, 0x82, False)


def test_scripted_answers_and_error_status_words_come_back_as_responses(
    reader: PcscCardReader, card: CardEmulator, events: EventLog
) -> None:
    card.set_handler([(bytes.fromhex("80CA9F7F"), bytes.fromhex("0102039000")), (b"\x80", bytes.fromhex("6985"))])
    insert_and_wait(card, events)
    answer = reader.transmit(bytes.fromhex("80CA9F7F00"))
    assert (answer.data, answer.sw) == (b"\x01\x02\x03", 0x9000)
    assert reader.transmit(bytes.fromhex("8050000000")).sw == 0x6985
    assert reader.transmit(bytes.fromhex("00B0000000")).sw == 0x6D00  # no rule: INS not supported

    card.fail_next(b"\x65\x81")  # memory failure
    assert reader.transmit(bytes.fromhex("80CA9F7F00")).sw == 0x6581
    assert reader.health().ok  # an error status word is the card's answer, not a reader fault


def test_a_stalled_card_raises_unresponsive_and_works_again_after(
    reader: PcscCardReader, card: CardEmulator, events: EventLog
) -> None:
    insert_and_wait(card, events)
    assert reader.transmit(SELECT_APP).ok
    card.stall_next(3.0)
    with pytest.raises(CardUnresponsive):
        reader.transmit(READ_16, timeout_s=1.0)
    health = reader.health()
    assert (health.level, health.reason) == (HealthLevel.WARNING, "card_error")

    # once the card answers again, a new dialogue works and health clears
    assert wait_until(lambda: _select_works(reader), timeout_s=6.0)
    assert reader.health().ok


def _select_works(reader: PcscCardReader) -> bool:
    try:
        return reader.transmit(SELECT_APP, timeout_s=1.0).ok
    except CardUnresponsive:
        return False


def test_card_pulled_mid_command_raises_removed_and_comes_back(
    reader: PcscCardReader, card: CardEmulator, events: EventLog
) -> None:
    insert_and_wait(card, events)
    assert reader.transmit(SELECT_APP).ok
    before_pull = len(events)
    card.pull_on_next_command()
    with pytest.raises(CardRemoved):
        reader.transmit(bytes.fromhex("00D600000401020304"), timeout_s=3.0)
    events.wait_for(CardEventKind.REMOVED, after=before_pull)
    assert reader.atr is None

    card.insert()
    again = events.wait_for(CardEventKind.INSERTED, after=before_pull)
    assert again.atr == DEFAULT_ATR
    assert reader.transmit(SELECT_APP).ok


def test_pcscd_restart_turns_health_critical_then_recovers_by_itself(
    pcsc: Pcsc, reader: PcscCardReader, card: CardEmulator, events: EventLog
) -> None:
    pcsc.require_owned()
    insert_and_wait(card, events)
    assert reader.transmit(SELECT_APP).ok
    before_restart = len(events)

    pcsc.stop()
    assert wait_until(lambda: reader.health().reason == "pcscd_down", timeout_s=5.0), reader.health()
    assert reader.health().critical
    events.wait_for(CardEventKind.REMOVED, after=before_restart)  # the card's dialogue is lost
    with pytest.raises(PcscUnavailable):
        reader.transmit(SELECT_APP, timeout_s=2.0)

    pcsc.start()
    assert wait_until(lambda: reader.health().ok, timeout_s=READY_TIMEOUT_S), reader.health()
    events.wait_for(CardEventKind.INSERTED, after=before_restart)
    assert reader.transmit(SELECT_APP).ok
    assert reader.transmit(SELECT_EF_1).ok


def test_the_scripted_pcscd_restart_is_survived_by_the_real_reader(
    pcsc: Pcsc, reader: PcscCardReader, card: CardEmulator, events: EventLog
) -> None:
    """``card.pcscd_restart`` as a fault script runs it: stop and start at once, nothing in between."""
    pcsc.require_owned()
    script = FaultScript.parse({"step": [
        {"at": 0, "do": "card.insert"},
        {"after": "card_read", "do": "card.pcscd_restart"},
    ]})
    runner = FaultRunner(script, FaultTargets(card=card, pcscd=pcsc.process))
    runner.start()
    events.wait_for(CardEventKind.INSERTED)
    assert reader.transmit(SELECT_APP).ok
    before_restart = len(events)

    runner.event("card_read")
    assert runner.log == ["t=0.0 card.insert", "t=0.0 card.pcscd_restart"]
    assert pcsc.process.owned, "the step left pcscd stopped"
    # the dialogue with the card did not survive the restart: the reader says so, then finds the card again
    events.wait_for(CardEventKind.REMOVED, after=before_restart)
    assert events.wait_for(CardEventKind.INSERTED, after=before_restart).atr == DEFAULT_ATR
    assert wait_until(lambda: reader.health().ok, timeout_s=READY_TIMEOUT_S), reader.health()
    assert reader.transmit(SELECT_APP).ok
    assert reader.transmit(SELECT_EF_1).ok
    assert reader.transmit(READ_16).data == b"KIOSK-TEST-CARD\x00"


def test_reader_gone_when_pcscd_comes_back_without_it(
    pcsc: Pcsc, reader: PcscCardReader, card: CardEmulator, events: EventLog, tmp_path: Path
) -> None:
    """The closest a virtual reader gets to being unplugged: pcscd restarts without the vpcd driver."""
    pcsc.require_owned()
    insert_and_wait(card, events)
    before = len(events)
    no_drivers = tmp_path / "reader.conf.d"
    no_drivers.mkdir()

    pcsc.stop()
    pcsc.start(config_dir=no_drivers, expect_virtual_reader=False)
    assert wait_until(lambda: reader.health().reason == "reader_gone", timeout_s=5.0), reader.health()
    assert reader.health().critical
    events.wait_for(CardEventKind.REMOVED, after=before)
    with pytest.raises(ReaderGone):
        reader.transmit(SELECT_APP, timeout_s=2.0)

    pcsc.stop()
    pcsc.start()
    assert wait_until(lambda: reader.health().ok, timeout_s=READY_TIMEOUT_S), reader.health()
    events.wait_for(CardEventKind.INSERTED, after=before)
    assert reader.transmit(SELECT_APP).ok


def test_stop_ends_the_reader_threads(pcsc: Pcsc, card: CardEmulator) -> None:
    events = EventLog()
    card_reader = PcscCardReader(VIRTUAL_READER, poll_s=0.5)
    card_reader.start(events)
    insert_and_wait(card, events)
    assert card_reader.transmit(SELECT_APP).ok
    card_reader.stop()
    # stop() joins the monitor and its supervisor (it waits at most about a second for each)
    alive = [t.name for t in threading.enumerate() if t.name.startswith(("card-monitor", "card-supervisor"))]
    assert alive == []
    assert card_reader.health().reason == "stopped"


def test_pyscard_agrees_with_the_drivers_pcsc_values(pcsc: Pcsc) -> None:
    from smartcard import scard

    from devices import card_reader

    for name in (
        "SCARD_SCOPE_USER",
        "SCARD_SHARE_SHARED",
        "SCARD_LEAVE_CARD",
        "SCARD_STATE_UNAWARE",
        "SCARD_STATE_IGNORE",
        "SCARD_STATE_CHANGED",
        "SCARD_STATE_UNKNOWN",
        "SCARD_STATE_EMPTY",
        "SCARD_STATE_PRESENT",
        "SCARD_STATE_MUTE",
        "SCARD_E_CANCELLED",
        "SCARD_E_INVALID_HANDLE",
        "SCARD_E_UNKNOWN_READER",
        "SCARD_E_TIMEOUT",
        "SCARD_E_NO_SMARTCARD",
        "SCARD_F_COMM_ERROR",
        "SCARD_E_NOT_TRANSACTED",
        "SCARD_E_READER_UNAVAILABLE",
        "SCARD_E_NO_SERVICE",
        "SCARD_E_SERVICE_STOPPED",
        "SCARD_E_NO_READERS_AVAILABLE",
        "SCARD_W_UNRESPONSIVE_CARD",
        "SCARD_W_REMOVED_CARD",
        "SCARD_W_RESET_CARD",
    ):
        assert getattr(card_reader, name) == getattr(scard, name) & 0xFFFFFFFF, name
