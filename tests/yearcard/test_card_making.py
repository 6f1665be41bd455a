"""Head office makes and reads year-cards through a real pcscd: the blank emulator in "Virtual PCD 00 00".

Run under the shared lock: ``flock /work/vpcd.lock python -m pytest -q tests/yearcard/test_card_making.py``.
Test master keys are made per test; the kiosk's own terminal (with a PSAM in "Virtual PCD 00 01")
reads the made card back, so the card is proven to work where it will be used.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from central.card_making import (
    CardMakingError,
    CardPulled,
    CardSlot,
    Check,
    Life,
    MadeCard,
    MakeSpec,
    NotBlank,
    make_card,
    make_on_slot,
    probe,
    read_plain,
    resume,
)
from devices.card_api import CardEventKind
from devices.card_reader import PcscCardReader
from devices.sim.card_emulator import VIRTUAL_READER, CardEmulator
from devices.sim.psam import PsamOS, psam_image
from devices.sim.yearcard import PSAM_PORT, PSAM_READER
from devices.sim.yearcard_os import ImageStore, YearCardOS, blank_image, personalised_image
from devices.yearcard import crypto
from devices.yearcard import profile as p
from devices.yearcard.terminal import YearCardTerminal
from tests.card.conftest import (  # noqa: F401  (pcsc is a fixture)
    EVENT_TIMEOUT_S,
    POLL_S,
    EventLog,
    Pcsc,
    card_in_virtual_reader,
    pcsc,
    wait_until,
)

ISSUER = bytes.fromhex("00000001")
TODAY = dt.date.today()
TERMINAL_ID = bytes.fromhex("310100010007")
PERSONALISATION_STEPS = ["SELECT", "WRITE KEY purchase", "WRITE KEY TAC", "WRITE KEY public",
                         "WRITE KEY maintenance", "WRITE KEY load", "UPDATE BINARY", "SET BALANCE",
                         "END PERSONALISATION"]
PROBE_STEPS = 2  # make_card first asks SELECT and GET BALANCE


def spec(number: str = "8800000000001001", visits: int = 12) -> MakeSpec:
    return MakeSpec(number, card_type=3, visits=visits, issuer=ISSUER, made=TODAY)


def empty() -> bool:
    return not card_in_virtual_reader() and not card_in_virtual_reader(PSAM_READER)


@dataclass
class Desk:
    """Head office's reader with one emulated card at a time in it."""

    master: crypto.MasterKeys
    folder: Path
    emulator: CardEmulator
    slot: CardSlot
    psam_reader: PcscCardReader

    def put(self, image: Path) -> YearCardOS:
        """A card (its image) on the reader; returns its operating system for inspection."""
        card_os = YearCardOS(ImageStore(image))
        self.emulator.set_handler(card_os)
        self.emulator.insert()
        assert self.slot.wait(True, EVENT_TIMEOUT_S)
        return card_os

    def take(self) -> None:
        self.emulator.remove()
        assert self.slot.wait(False, EVENT_TIMEOUT_S)
        assert wait_until(lambda: not card_in_virtual_reader(), EVENT_TIMEOUT_S)

    def blank(self, name: str) -> Path:
        return blank_image(self.folder / name).path

    def kiosk_reads(self) -> YearCardTerminal:
        """The kiosk's terminal, card and PSAM each through pcscd: the card as a kiosk will see it."""
        return YearCardTerminal(self.slot.reader, self.psam_reader)


@pytest.fixture
def desk(pcsc: Pcsc, tmp_path: Path) -> Iterator[Desk]:  # noqa: F811
    assert wait_until(empty, EVENT_TIMEOUT_S), "a card is still in a virtual reader"
    master = crypto.MasterKeys.generate()
    emulator = CardEmulator(auto_reconnect=False)
    psam = CardEmulator(port=PSAM_PORT, atr=p.PSAM_ATR,
                        handler=PsamOS(psam_image(tmp_path / "psam.json", master, TERMINAL_ID)))
    psam_events = EventLog()
    psam_reader = PcscCardReader(PSAM_READER, poll_s=POLL_S)
    psam_reader.start(psam_events)
    psam.insert()
    psam_events.wait_for(CardEventKind.INSERTED)
    with CardSlot(VIRTUAL_READER, poll_s=POLL_S) as slot:
        try:
            yield Desk(master, tmp_path, emulator, slot, psam_reader)
        finally:
            emulator.remove()
            psam_reader.stop()
            psam.remove()
    wait_until(empty, EVENT_TIMEOUT_S)


def test_a_blank_card_is_made_verified_and_works_at_a_kiosk(desk: Desk) -> None:
    image = desk.blank("blank.json")
    desk.put(image)
    assert probe(desk.slot.transmit).life is Life.BLANK
    made = make_card(desk.slot.transmit, desk.master, spec())
    assert (made.public.card_number, made.public.card_type, made.balance) == ("8800000000001001", 3, 12)
    assert not made.public.sold and made.public.made == TODAY and not made.resumed
    reading = desk.kiosk_reads().read()  # the PSAM checks the issuer's MAC and the chip
    assert (reading.card_number, reading.balance, reading.public.life_on(TODAY)) == (
        "8800000000001001", 12, p.CardLife.NOT_SOLD)
    assert YearCardOS(ImageStore(image)).state.personalised  # on the card's own storage


def test_a_card_that_is_not_blank_is_refused_and_left_as_it_was(desk: Desk) -> None:
    image = personalised_image(desk.folder / "made.json", desk.master, "8800000000009999", visits=5).path
    before = image.read_bytes()
    desk.put(image)
    with pytest.raises(NotBlank, match=r"8800\*{8}9999 is already made"):
        make_card(desk.slot.transmit, desk.master, spec())
    assert image.read_bytes() == before


@pytest.mark.parametrize("executed", [False, True], ids=["before", "after"])
@pytest.mark.parametrize("step", [1, 6, 8], ids=["first-key", "public-file", "end"])
def test_a_card_pulled_mid_way_is_blank_or_complete_and_says_so(desk: Desk, step: int, executed: bool) -> None:
    image = desk.blank("torn.json")
    desk.put(image)
    desk.emulator.pull_at_command(PROBE_STEPS + step, executed=executed)
    with pytest.raises(CardPulled):
        make_card(desk.slot.transmit, desk.master, spec())
    finished = step == len(PERSONALISATION_STEPS) - 1 and executed
    assert YearCardOS(ImageStore(image)).state.personalised is finished  # never half a card
    assert wait_until(lambda: not card_in_virtual_reader(), EVENT_TIMEOUT_S)
    assert desk.slot.wait(False, EVENT_TIMEOUT_S)
    desk.put(image)  # the same card, as its image now is
    state, made = resume(desk.slot.transmit, desk.master, spec())
    assert state == ("complete" if finished else "blank")
    assert made.balance == 12 and made.resumed is finished
    assert desk.kiosk_reads().read().card_number == "8800000000001001"


def test_a_range_is_made_one_card_at_a_time_refusing_a_made_card(desk: Desk) -> None:
    said: list[str] = []
    made: list[MadeCard] = []
    specs = [spec("8800000000002000"), spec("8800000000002001")]

    def run() -> None:
        for one in specs:
            made.append(make_on_slot(desk.slot, desk.master, one, said.append, wait_s=EVENT_TIMEOUT_S * 2))

    worker = threading.Thread(target=run)
    worker.start()
    first = desk.blank("first.json")
    desk.put(first)
    assert wait_until(lambda: len(made) == 1, EVENT_TIMEOUT_S * 2)
    desk.take()
    desk.put(first)  # the operator puts the card just made on again by mistake
    assert wait_until(lambda: any("refused" in line for line in said), EVENT_TIMEOUT_S * 2)
    desk.take()
    second = desk.blank("second.json")
    desk.put(second)
    worker.join(timeout=EVENT_TIMEOUT_S * 4)
    assert not worker.is_alive()
    assert [m.public.card_number for m in made] == ["8800000000002000", "8800000000002001"]
    assert YearCardOS(ImageStore(first)).state.public is not None
    refused = [line for line in said if line.startswith("refused")]
    assert refused == ["refused: card 8800********2000 is already made: take it away and put a blank card"]
    assert all("8800000000002000" not in line for line in said)  # masked on the console


def test_no_card_within_the_wait_is_a_clear_error(desk: Desk) -> None:
    with pytest.raises(CardMakingError, match="no card on Virtual PCD 00 00 within 0 s"):
        make_on_slot(desk.slot, desk.master, spec(), lambda _: None, wait_s=0.01)


def test_a_plain_read_checks_the_card_with_the_issuer_keys(desk: Desk) -> None:
    image = personalised_image(desk.folder / "used.json", desk.master, "8800000000003000", visits=10,
                               activated=TODAY).path
    desk.put(image)
    terminal = desk.kiosk_reads()
    terminal.debit(2)
    terminal.debit(1, kind=crypto.TRANSACTION_CONCESSION)
    reading = read_plain(desk.slot.transmit, desk.master)
    assert reading.check is Check.GENUINE and reading.balance == 7
    assert [(r.amount, r.kind, r.balance_after) for r in reading.records] == [
        (1, crypto.TRANSACTION_CONCESSION, 7), (2, crypto.TRANSACTION_TICKET, 8)]
    assert reading.records[0].terminal_id == TERMINAL_ID
    assert reading.last_debit_tac is not None and len(reading.last_debit_tac) == 4
    assert read_plain(desk.slot.transmit, None).check is Check.UNCHECKED
    assert read_plain(desk.slot.transmit, crypto.MasterKeys.generate()).check is Check.FORGED  # another issuer
