"""The kiosk's terminal against the real card OS and PSAM handlers, in-process (no pcscd here:
tests/card/test_yearcard_pcsc.py runs the same through pcscd and vpcd)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from devices.card_api import ApduResponse, CardRemoved
from devices.sim.card_emulator import default_card
from devices.sim.yearcard import handler_channel
from devices.sim.yearcard_os import ImageStore, YearCardOS, blank_image, personalised_image, seal
from devices.yearcard import crypto
from devices.yearcard import profile as p
from devices.yearcard.terminal import (
    BlankCard,
    CardIntegrityError,
    CardUnavailable,
    DebitInterrupted,
    DebitProof,
    Mac2Refused,
    NotAYearCard,
    NotDebited,
    NotEnoughVisits,
    PendingDebit,
    PsamError,
    WrongCard,
    YearCardTerminal,
)
from tests.yearcard.conftest import CARD_NUMBER, NOW, TERMINAL_ID, TODAY, Kit


class Tearing:
    """A channel that loses the card at its ``at``-th command: before it reaches the card, or after."""

    def __init__(self, handler: Callable[[bytes], bytes], at: int, executed: bool) -> None:
        self.handler, self.at, self.executed = handler, at, executed
        self.sent: list[bytes] = []

    def __call__(self, apdu: bytes) -> ApduResponse:
        index = len(self.sent)
        self.sent.append(apdu)
        if index == self.at:
            if self.executed:
                self.handler(apdu)
            raise CardRemoved("pulled (test)")
        return ApduResponse.from_bytes(self.handler(apdu))


def test_a_read_shows_the_public_data_visits_and_last_records(kit: Kit) -> None:
    terminal = kit.terminal()
    fresh = terminal.read()
    assert fresh.card_number == CARD_NUMBER and fresh.public.card_type == 3
    assert fresh.public.activated == TODAY and fresh.public.expires == TODAY + dt.timedelta(days=365)
    assert fresh.balance == 10 and fresh.records == ()
    terminal.debit(2)
    terminal.debit(1, kind=crypto.TRANSACTION_CONCESSION)
    reading = terminal.read()
    assert reading.balance == 7
    assert [(r.card_counter, r.amount, r.kind, r.balance_after) for r in reading.records] == [
        (1, 1, crypto.TRANSACTION_CONCESSION, 7), (0, 2, crypto.TRANSACTION_TICKET, 8)
    ]
    assert reading.records[0].terminal_id == TERMINAL_ID and reading.records[0].cinema == "31010001"
    assert reading.records[0].when == NOW


def test_a_debit_returns_what_the_central_verifies(kit: Kit) -> None:
    journal: list[PendingDebit] = []
    proof = kit.terminal().debit(2, expect_card=CARD_NUMBER, on_pending=journal.append)
    assert journal == [proof.pending]
    data = proof.to_dict()
    assert data == {
        "card_number": CARD_NUMBER, "card_counter": 0, "amount": 2, "kind": 6, "terminal_id": "310100010007",
        "terminal_seq": 1, "when": NOW.isoformat(), "balance_before": 10, "balance_after": 8, "tac": proof.tac,
    }
    assert proof.verify(kit.master.tac)
    assert not proof.verify(crypto.MasterKeys.generate().tac)
    assert PendingDebit.from_dict(proof.pending.to_dict()) == proof.pending
    assert kit.master.tac.hex() not in json.dumps(data)


def test_more_visits_than_the_card_holds_are_refused_without_a_debit(kit: Kit) -> None:
    with pytest.raises(NotEnoughVisits) as refused:
        kit.terminal().debit(11)
    assert refused.value.balance == 10
    assert kit.terminal().read().balance == 10


# ---- tears: at every command of a debit, the card holds old or new state and recovery says which ----

CARD_COMMANDS = ["SELECT", "READ BINARY", "INTERNAL AUTHENTICATE", "INITIALIZE", "DEBIT"]
DEBIT = CARD_COMMANDS.index("DEBIT")


@pytest.mark.parametrize("executed", [False, True], ids=["before", "after"])
@pytest.mark.parametrize("at", range(len(CARD_COMMANDS)), ids=CARD_COMMANDS)
def test_a_card_pulled_at_any_command_of_a_debit_is_recovered(kit: Kit, at: int, executed: bool) -> None:
    torn = Tearing(kit.card, at, executed)
    terminal = YearCardTerminal(torn, handler_channel(kit.psam), clock=lambda: NOW)
    journal: list[PendingDebit] = []
    debited = at == DEBIT and executed
    if at < DEBIT:
        with pytest.raises(CardUnavailable):  # before the DEBIT: nothing was debited, nothing to recover
            terminal.debit(2, on_pending=journal.append)
        assert journal == []
    else:
        with pytest.raises(DebitInterrupted) as interrupted:
            terminal.debit(2, on_pending=journal.append)
        assert journal == [interrupted.value.pending]
    kit.reload()  # the card comes back (and the emulator even restarted)
    back = kit.terminal()
    assert back.read().balance == (8 if debited else 10)  # old or new state, nothing between
    if journal:
        outcome = back.recover(journal[0])
        if debited:
            assert isinstance(outcome, DebitProof) and outcome.verify(kit.master.tac)
            assert outcome.balance_after == 8
        else:
            assert outcome == NotDebited(journal[0])


def test_a_psam_lost_while_checking_mac2_is_recovered(kit: Kit) -> None:
    # PSAM commands of a debit: SELECT, READ terminal id, VERIFY PUBLIC, VERIFY AUTH, SELECT, INIT SAM, CREDIT SAM
    psam = Tearing(kit.psam, 6, executed=False)
    terminal = YearCardTerminal(handler_channel(kit.card), psam, clock=lambda: NOW)
    with pytest.raises(DebitInterrupted) as interrupted:
        terminal.debit(2)
    outcome = kit.terminal().recover(interrupted.value.pending)
    assert isinstance(outcome, DebitProof) and outcome.verify(kit.master.tac)


def test_a_debit_elsewhere_after_a_lost_one_does_not_count_as_ours(kit: Kit) -> None:
    torn = Tearing(kit.card, DEBIT, executed=False)
    with pytest.raises(DebitInterrupted) as interrupted:
        YearCardTerminal(torn, handler_channel(kit.psam), clock=lambda: NOW).debit(2)
    later = NOW + dt.timedelta(minutes=5)
    YearCardTerminal(handler_channel(kit.card), handler_channel(kit.psam), clock=lambda: later).debit(2)
    assert kit.terminal().recover(interrupted.value.pending) == NotDebited(interrupted.value.pending)


def test_recovery_refuses_another_card(kit: Kit, tmp_path: Path) -> None:
    torn = Tearing(kit.card, DEBIT, executed=True)
    with pytest.raises(DebitInterrupted) as interrupted:
        YearCardTerminal(torn, handler_channel(kit.psam), clock=lambda: NOW).debit(2)
    other = YearCardOS(personalised_image(tmp_path / "other.json", kit.master, "8800000000000099", activated=TODAY))
    with pytest.raises(WrongCard):
        YearCardTerminal(handler_channel(other), handler_channel(kit.psam)).recover(interrupted.value.pending)


# ---- refusals ----


def mac2_corrupted(card: Callable[[bytes], bytes], commands: tuple[int, ...]) -> Callable[[bytes], ApduResponse]:
    """The card's channel with the MAC2 of these commands' answers garbled (DEBIT: TAC|MAC2, PROVE: MAC2|TAC)."""

    def transmit(apdu: bytes) -> ApduResponse:
        answer = card(apdu)
        if apdu[1] in commands and answer[-2:] == b"\x90\x00":
            at = 4 if apdu[1] == p.INS_DEBIT else 0
            answer = answer[:at] + bytes(4) + answer[at + 4 :]
        return ApduResponse.from_bytes(answer)

    return transmit


def test_a_garbled_mac2_is_checked_again_from_the_cards_proof(kit: Kit) -> None:
    terminal = YearCardTerminal(mac2_corrupted(kit.card, (p.INS_DEBIT,)), handler_channel(kit.psam), clock=lambda: NOW)
    proof = terminal.debit(1)
    assert proof.verify(kit.master.tac) and proof.balance_after == 9
    assert kit.card.state.balance == 9


def test_the_psam_refuses_a_card_whose_mac2_is_always_wrong(kit: Kit) -> None:
    bad = mac2_corrupted(kit.card, (p.INS_DEBIT, p.INS_PROVE))
    with pytest.raises(Mac2Refused) as refused:
        YearCardTerminal(bad, handler_channel(kit.psam), clock=lambda: NOW).debit(1)
    assert refused.value.proof.verify(kit.master.tac)  # the card debited; its TAC is the issuer's to judge


def test_a_card_of_another_issuer_fails_the_public_file_check(kit: Kit, tmp_path: Path) -> None:
    foreign = YearCardOS(personalised_image(tmp_path / "foreign.json", crypto.MasterKeys.generate(), CARD_NUMBER,
                                            activated=TODAY))
    with pytest.raises(CardIntegrityError, match="issuer's MAC"):
        YearCardTerminal(handler_channel(foreign), handler_channel(kit.psam)).read()


def test_an_edited_public_file_fails_the_check_even_with_the_image_resealed(kit: Kit) -> None:
    image = json.loads(kit.card_path.read_text())
    public = bytearray.fromhex(image["public"])
    public[24:28] = bytes.fromhex("20991231")  # a longer validity
    image["public"] = public.hex()
    body = {k: v for k, v in image.items() if k != "seal"}
    kit.card_path.write_text(json.dumps({**body, "seal": seal(body)}))
    card = YearCardOS(ImageStore(kit.card_path))
    assert card.intact  # the chip sees nothing wrong: only the issuer's MAC can tell
    with pytest.raises(CardIntegrityError, match="issuer's MAC"):
        YearCardTerminal(handler_channel(card), handler_channel(kit.psam)).read()


def test_an_edited_purse_in_the_image_fails_the_cards_integrity_check(kit: Kit) -> None:
    image = json.loads(kit.card_path.read_text())
    image["balance"] = 99
    kit.card_path.write_text(json.dumps(image))
    card = YearCardOS(ImageStore(kit.card_path))
    with pytest.raises(CardIntegrityError, match="integrity"):
        YearCardTerminal(handler_channel(card), handler_channel(kit.psam)).read()


def test_a_card_whose_keys_do_not_match_the_psam_is_never_debited(kit: Kit, tmp_path: Path) -> None:
    # a copy: right public file, wrong purchase key
    image = json.loads(kit.card_path.read_text())
    image["keys"]["1"] = "00" * 16
    body = {k: v for k, v in image.items() if k != "seal"}
    kit.card_path.write_text(json.dumps({**body, "seal": seal(body)}))
    copy = YearCardOS(ImageStore(kit.card_path))
    with pytest.raises(CardIntegrityError, match="MAC1"):
        YearCardTerminal(handler_channel(copy), handler_channel(kit.psam)).debit(1)
    assert copy.state.balance == 10


def test_a_copy_of_the_public_file_on_another_chip_is_refused_at_the_first_read(kit: Kit) -> None:
    image = json.loads(kit.card_path.read_text())
    image["keys"]["3"] = "11" * 16  # the public file copied verbatim, its MAC too; the chip's own key unknown
    body = {k: v for k, v in image.items() if k != "seal"}
    kit.card_path.write_text(json.dumps({**body, "seal": seal(body)}))
    copy = YearCardOS(ImageStore(kit.card_path))
    with pytest.raises(CardIntegrityError, match="a copy"):
        YearCardTerminal(handler_channel(copy), handler_channel(kit.psam)).read()


def test_the_psam_takes_one_answer_per_challenge(kit: Kit) -> None:
    psam, card = kit.psam, kit.card
    psam(p.select_aid(p.PSAM_AID))
    card(p.select_aid(p.CARD_AID))
    public = card(p.read_public())[:-2]
    challenge = psam(p.verify_public(public))[:-2]
    answer = card(p.internal_authenticate(challenge))[:-2]
    assert psam(p.verify_auth(answer))[-2:] == b"\x90\x00"
    assert psam(p.verify_auth(answer))[-2:] == b"\x69\x85"  # replayed: no challenge waiting


def test_other_cards_and_blank_cards_are_named(kit: Kit, tmp_path: Path) -> None:
    with pytest.raises(NotAYearCard):
        YearCardTerminal(handler_channel(default_card()), handler_channel(kit.psam)).read()
    blank = YearCardOS(blank_image(tmp_path / "blank.json"))
    with pytest.raises(BlankCard):
        YearCardTerminal(handler_channel(blank), handler_channel(kit.psam)).read()
    with pytest.raises(PsamError):
        YearCardTerminal(handler_channel(kit.card), handler_channel(default_card())).read()
