"""The year-card through a real pcscd: the card OS in "Virtual PCD 00 00", the PSAM in "Virtual PCD 00 01",
pyscard's driver on both, the kiosk's terminal on top. Test master keys are made here, per test."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from devices.card_api import ApduResponse, CardEventKind
from devices.card_reader import PcscCardReader
from devices.sim.card_emulator import VIRTUAL_READER
from devices.sim.psam import psam_image
from devices.sim.yearcard import PSAM_READER, YearCardRig
from devices.sim.yearcard_os import ImageStore, YearCardOS, blank_image, personalised_image, seal
from devices.yearcard import crypto
from devices.yearcard import profile as p
from devices.yearcard.personalise import personalise, renew, sell
from devices.yearcard.terminal import (
    CardIntegrityError,
    CardUnavailable,
    DebitInterrupted,
    DebitProof,
    Mac2Refused,
    NotDebited,
    NotEnoughVisits,
    PendingDebit,
    PsamError,
    YearCardTerminal,
)
from tests.card.conftest import (
    EVENT_TIMEOUT_S,
    POLL_S,
    EventLog,
    Pcsc,
    card_in_virtual_reader,
    skip_or_fail,
    wait_until,
)

CARD_NUMBER = "8800000000000042"
TERMINAL_ID = bytes.fromhex("310100010007")
TODAY = dt.date.today()


def readers_empty() -> bool:
    return not card_in_virtual_reader() and not card_in_virtual_reader(PSAM_READER)


@dataclass
class YearCardBench:
    master: crypto.MasterKeys
    rig: YearCardRig
    card_reader: PcscCardReader
    psam_reader: PcscCardReader
    card_events: EventLog
    psam_events: EventLog

    def terminal(self) -> YearCardTerminal:
        return YearCardTerminal(self.card_reader, self.psam_reader)

    def put_back(self, which: str = "card") -> None:
        """The holder puts the pulled card back (or staff the PSAM): pcscd sees it leave, then come."""
        emulator, events, reader = (
            (self.rig.card, self.card_events, VIRTUAL_READER) if which == "card"
            else (self.rig.psam, self.psam_events, PSAM_READER)
        )
        assert wait_until(lambda: not card_in_virtual_reader(reader), EVENT_TIMEOUT_S), f"the {which} never left"
        seen = len(events)
        emulator.insert()
        events.wait_for(CardEventKind.INSERTED, after=seen)


def start_bench(pcsc: Pcsc, card_image: Path, psam_path: Path, master: crypto.MasterKeys) -> YearCardBench:
    assert wait_until(readers_empty, EVENT_TIMEOUT_S), "a card is still in a virtual reader"
    rig = YearCardRig.from_images(card_image, psam_path, auto_reconnect=False)
    card_events, psam_events = EventLog(), EventLog()
    card_reader = PcscCardReader(VIRTUAL_READER, poll_s=POLL_S)
    psam_reader = PcscCardReader(PSAM_READER, poll_s=POLL_S)
    card_reader.start(card_events)
    psam_reader.start(psam_events)
    rig.psam.insert()
    psam_events.wait_for(CardEventKind.INSERTED)
    rig.card.insert()
    card_events.wait_for(CardEventKind.INSERTED)
    return YearCardBench(master, rig, card_reader, psam_reader, card_events, psam_events)


def stop_bench(bench: YearCardBench) -> None:
    bench.card_reader.stop()
    bench.psam_reader.stop()
    bench.rig.card.remove()
    bench.rig.psam.remove()
    wait_until(readers_empty, EVENT_TIMEOUT_S)


@pytest.fixture
def yearcard(pcsc: Pcsc, tmp_path: Path) -> Iterator[YearCardBench]:
    master = crypto.MasterKeys.generate()
    personalised_image(tmp_path / "card.json", master, CARD_NUMBER, card_type=3, visits=10, activated=TODAY)
    psam_image(tmp_path / "psam.json", master, TERMINAL_ID)
    bench = start_bench(pcsc, tmp_path / "card.json", tmp_path / "psam.json", master)
    yield bench
    stop_bench(bench)


def test_the_atrs_tell_the_card_from_the_psam(yearcard: YearCardBench) -> None:
    assert yearcard.card_reader.atr == p.CARD_ATR
    assert yearcard.psam_reader.atr == p.PSAM_ATR


def test_read_and_debit_through_pcscd(yearcard: YearCardBench) -> None:
    terminal = yearcard.terminal()
    reading = terminal.read()
    assert (reading.card_number, reading.public.card_type, reading.balance) == (CARD_NUMBER, 3, 10)
    proof = terminal.debit(2, expect_card=CARD_NUMBER)
    assert proof.verify(yearcard.master.tac) and proof.balance_after == 8
    again = terminal.read()
    assert again.balance == 8
    assert again.records[0].card_counter == proof.pending.card_counter
    assert again.records[0].terminal_id == TERMINAL_ID


def test_the_balance_never_goes_negative(yearcard: YearCardBench) -> None:
    terminal = yearcard.terminal()
    spent = 0
    for visits in (4, 4, 4, 2, 1):
        try:
            terminal.debit(visits)
            spent += visits
        except NotEnoughVisits as refused:
            assert visits > 10 - spent and refused.balance == 10 - spent
    assert spent == 10
    assert terminal.read().balance == 0
    assert yearcard.rig.card_os.state.balance == 0


CARD_COMMANDS = ["SELECT", "READ BINARY", "INTERNAL AUTHENTICATE", "INITIALIZE", "DEBIT"]


@pytest.mark.parametrize("executed", [False, True], ids=["before", "after"])
@pytest.mark.parametrize("at", range(len(CARD_COMMANDS)), ids=CARD_COMMANDS)
def test_a_card_pulled_at_any_command_of_a_debit(yearcard: YearCardBench, at: int, executed: bool) -> None:
    """The card holds its old or its new state, and recovery yields a verified TAC or a clean "not debited"."""
    journal: list[PendingDebit] = []
    yearcard.rig.card.pull_at_command(at, executed=executed)
    terminal = yearcard.terminal()
    debited = at == CARD_COMMANDS.index("DEBIT") and executed
    if at < CARD_COMMANDS.index("DEBIT"):
        with pytest.raises(CardUnavailable):
            terminal.debit(2, on_pending=journal.append)
        assert journal == []  # never got as far as a debit: nothing to recover
    else:
        with pytest.raises(DebitInterrupted):
            terminal.debit(2, on_pending=journal.append)
        assert len(journal) == 1
    image, intact = ImageStore(yearcard.rig.card_os.store.path).load()
    assert intact and image.balance == (8 if debited else 10)  # old or new, on disk

    yearcard.rig.reload_card()  # the emulator's process restarted meanwhile: the image is all there is
    yearcard.put_back("card")
    assert terminal.read().balance == (8 if debited else 10)
    if journal:
        outcome = terminal.recover(journal[0])
        if debited:
            assert isinstance(outcome, DebitProof) and outcome.verify(yearcard.master.tac)
        else:
            assert outcome == NotDebited(journal[0])
    # and the card works on afterwards
    assert terminal.debit(1).balance_after == (7 if debited else 9)


@pytest.mark.parametrize("pulled_while_slow", [False, True], ids=["slow write", "pulled while slow"])
def test_a_card_too_slow_to_answer_the_debit(yearcard: YearCardBench, pulled_while_slow: bool) -> None:
    """The card takes longer than the kiosk waits: it writes late (or is pulled before it could)."""
    yearcard.rig.card.stall_next(2.5, skip=CARD_COMMANDS.index("DEBIT"))
    impatient = YearCardTerminal(yearcard.card_reader, yearcard.psam_reader, timeout_s=1.0)
    with pytest.raises(DebitInterrupted) as interrupted:
        impatient.debit(2)
    if pulled_while_slow:
        yearcard.rig.card.remove()
        yearcard.put_back("card")
    else:
        assert wait_until(lambda: yearcard.rig.card_os.state.counter == 1, EVENT_TIMEOUT_S)  # the late write
    outcome = yearcard.terminal().recover(interrupted.value.pending)
    if pulled_while_slow:
        assert outcome == NotDebited(interrupted.value.pending)
        assert yearcard.rig.card_os.state.balance == 10
    else:
        assert isinstance(outcome, DebitProof) and outcome.verify(yearcard.master.tac)
        assert yearcard.rig.card_os.state.balance == 8


PSAM_COMMANDS = [
    "SELECT", "READ terminal id", "VERIFY PUBLIC", "VERIFY AUTH", "SELECT again", "INIT SAM", "CREDIT SAM"
]


@pytest.mark.parametrize("executed", [False, True], ids=["before", "after"])
@pytest.mark.parametrize("at", range(len(PSAM_COMMANDS)), ids=PSAM_COMMANDS)
def test_a_psam_pulled_at_any_command_of_a_debit(yearcard: YearCardBench, at: int, executed: bool) -> None:
    yearcard.rig.psam.pull_at_command(at, executed=executed)
    terminal = yearcard.terminal()
    journal: list[PendingDebit] = []
    if at < PSAM_COMMANDS.index("CREDIT SAM"):
        with pytest.raises(PsamError):  # before the card's DEBIT: nothing debited
            terminal.debit(2, on_pending=journal.append)
        assert journal == [] and yearcard.rig.card_os.state.balance == 10
    else:
        with pytest.raises(DebitInterrupted):  # the card debited; the PSAM could not check MAC2
            terminal.debit(2, on_pending=journal.append)
    yearcard.put_back("psam")
    if journal:
        outcome = terminal.recover(journal[0])
        assert isinstance(outcome, DebitProof) and outcome.verify(yearcard.master.tac)
    assert terminal.debit(1).verify(yearcard.master.tac)  # and the kiosk works on
    assert yearcard.rig.card_os.state.balance == (7 if journal else 9)


def test_the_psam_refuses_a_bad_mac2(yearcard: YearCardBench) -> None:
    def corrupt_mac2(apdu: bytes) -> ApduResponse:
        answer = yearcard.card_reader.transmit(apdu)
        if apdu[1] == p.INS_DEBIT and answer.ok:
            return ApduResponse(answer.data[:4] + bytes(4), answer.sw1, answer.sw2)
        if apdu[1] == p.INS_PROVE and answer.ok:
            return ApduResponse(bytes(4) + answer.data[4:], answer.sw1, answer.sw2)
        return answer

    with pytest.raises(Mac2Refused) as refused:
        YearCardTerminal(corrupt_mac2, yearcard.psam_reader).debit(1)
    assert refused.value.proof.verify(yearcard.master.tac)


def test_an_edited_card_image_fails_the_integrity_check(yearcard: YearCardBench) -> None:
    path = yearcard.rig.card_os.store.path
    yearcard.rig.card.remove()
    image = json.loads(path.read_text())
    public = bytearray.fromhex(image["public"])
    public[14] = 9  # another card type, resealed so that only the issuer's MAC can tell
    image["public"] = public.hex()
    body = {k: v for k, v in image.items() if k != "seal"}
    path.write_text(json.dumps({**body, "seal": seal(body)}))
    yearcard.rig.reload_card()
    yearcard.put_back("card")
    with pytest.raises(CardIntegrityError, match="issuer's MAC"):
        yearcard.terminal().read()

    yearcard.rig.card.remove()
    path.write_text(json.dumps({**body, "balance": 99, "seal": seal(body)}))  # purse edited, seal left
    yearcard.rig.reload_card()
    yearcard.put_back("card")
    with pytest.raises(CardIntegrityError, match="integrity"):
        yearcard.terminal().read()


def test_a_blank_card_is_personalised_through_pcscd(pcsc: Pcsc, tmp_path: Path) -> None:
    master = crypto.MasterKeys.generate()
    blank_image(tmp_path / "blank.json")
    psam_image(tmp_path / "psam.json", master, TERMINAL_ID)
    bench = start_bench(pcsc, tmp_path / "blank.json", tmp_path / "psam.json", master)
    try:
        personalise(bench.card_reader.transmit, master, CARD_NUMBER, card_type=5, visits=20,
                    issuer=b"\x00\x00\x00\x01", activated=TODAY)
        reading = bench.terminal().read()
        assert (reading.card_number, reading.public.card_type, reading.balance) == (CARD_NUMBER, 5, 20)
        assert YearCardOS(ImageStore(tmp_path / "blank.json")).state.personalised
    finally:
        stop_bench(bench)


# ---- the standalone emulator, as other PC/SC tools see it ----


def serve(card: Path, psam: Path, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "devices.sim.yearcard", "serve", "--image", str(card), "--psam-image", str(psam)],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=log.open("ab"),
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )


def stop_serving(process: subprocess.Popen[bytes]) -> None:
    assert process.stdin is not None
    process.stdin.write(b"quit\n")
    process.stdin.close()
    assert process.wait(timeout=10) == 0


def test_the_standalone_emulator_talks_to_scriptor_and_the_card_outlives_it(pcsc: Pcsc, tmp_path: Path) -> None:
    if shutil.which("scriptor") is None:
        skip_or_fail("scriptor is not installed (apt-get install pcsc-tools)")
    assert wait_until(readers_empty, EVENT_TIMEOUT_S)
    master = crypto.MasterKeys.generate()
    card, psam = tmp_path / "card.json", tmp_path / "psam.json"
    personalised_image(card, master, CARD_NUMBER, visits=10, activated=TODAY)
    psam_image(psam, master, TERMINAL_ID)
    log = tmp_path / "serve.log"

    process = serve(card, psam, log)
    try:
        assert wait_until(lambda: card_in_virtual_reader() and card_in_virtual_reader(PSAM_READER),
                          EVENT_TIMEOUT_S), log.read_text()
        script = " ".join(f"{b:02X}" for b in p.select_aid(p.CARD_AID)) + "\n"
        script += " ".join(f"{b:02X}" for b in p.get_balance()) + "\n"
        result = subprocess.run(["scriptor", "-r", VIRTUAL_READER], input=script.encode(), capture_output=True,
                                timeout=20)
        out = result.stdout.decode()
        assert result.returncode == 0, out + result.stderr.decode()
        assert "00 00 00 0A 90 00" in out  # ten visits, read by another PC/SC client

        events, psam_events = EventLog(), EventLog()
        card_reader, psam_reader = PcscCardReader(VIRTUAL_READER, poll_s=POLL_S), PcscCardReader(PSAM_READER)
        card_reader.start(events)
        psam_reader.start(psam_events)
        try:
            events.wait_for(CardEventKind.INSERTED)
            YearCardTerminal(card_reader, psam_reader).debit(3)
        finally:
            card_reader.stop()
            psam_reader.stop()
    finally:
        stop_serving(process)
    assert wait_until(readers_empty, EVENT_TIMEOUT_S)

    process = serve(card, psam, log)  # a new process, the same card
    try:
        assert wait_until(lambda: card_in_virtual_reader() and card_in_virtual_reader(PSAM_READER), EVENT_TIMEOUT_S)
        card_reader, psam_reader = PcscCardReader(VIRTUAL_READER, poll_s=POLL_S), PcscCardReader(PSAM_READER)
        events = EventLog()
        card_reader.start(events)
        psam_reader.start(EventLog())
        try:
            events.wait_for(CardEventKind.INSERTED)
            reading = YearCardTerminal(card_reader, psam_reader).read()
        finally:
            card_reader.stop()
            psam_reader.stop()
        assert reading.balance == 7
        assert [(r.card_counter, r.amount) for r in reading.records] == [(0, 3)]
    finally:
        stop_serving(process)
    assert wait_until(readers_empty, EVENT_TIMEOUT_S)


def test_a_made_card_is_sold_and_renewed_through_pcscd(pcsc: Pcsc, tmp_path: Path) -> None:
    master = crypto.MasterKeys.generate()
    personalised_image(tmp_path / "made.json", master, CARD_NUMBER, visits=10)  # made, not sold
    psam_image(tmp_path / "psam.json", master, TERMINAL_ID)
    bench = start_bench(pcsc, tmp_path / "made.json", tmp_path / "psam.json", master)
    try:
        terminal = bench.terminal()
        assert terminal.read_public().life_on(TODAY) is p.CardLife.NOT_SOLD
        sell(bench.card_reader.transmit, master, terminal.read_public(), TODAY, valid_days=30)
        assert terminal.read_public().life_on(TODAY + dt.timedelta(days=31)) is p.CardLife.EXPIRED
        renew(bench.card_reader.transmit, master, terminal.read_public(), TODAY + dt.timedelta(days=400))
        assert terminal.read_public().life_on(TODAY + dt.timedelta(days=31)) is p.CardLife.ACTIVE
    finally:
        stop_bench(bench)
