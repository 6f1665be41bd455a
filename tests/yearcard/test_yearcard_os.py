"""The card OS and the PSAM on their images, in-process: personalisation, atomic writes, integrity."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devices.card_api import ApduResponse
from devices.sim.psam import PsamOS, PsamStore
from devices.sim.yearcard import handler_channel
from devices.sim.yearcard_os import ImageError, ImageStore, YearCardOS, blank_image, seal
from devices.yearcard import crypto
from devices.yearcard import profile as p
from devices.yearcard.personalise import PersonalisationError, personalise
from devices.yearcard.terminal import NotEnoughVisits, UnreadableCard
from tests.yearcard.conftest import CARD_NUMBER, TERMINAL_ID, TODAY, Kit

OK = b"\x90\x00"


def sw(answer: bytes) -> int:
    return int.from_bytes(answer[-2:], "big")


def test_a_blank_card_is_personalised_once_and_then_refuses_personalisation(
    tmp_path: Path, master: crypto.MasterKeys
) -> None:
    card = YearCardOS(blank_image(tmp_path / "blank.json"))
    card(p.select_aid(p.CARD_AID))
    assert sw(card(p.read_public())) == p.SW_CONDITIONS  # blank: nothing to read
    assert sw(card(p.end_personalisation())) == p.SW_CONDITIONS  # no keys yet
    personalise(handler_channel(card), master, CARD_NUMBER, card_type=2, visits=12,
                issuer=b"\x00\x00\x00\x01", made=TODAY)
    reread = YearCardOS(card.store)  # personalisation reached the image
    reread(p.select_aid(p.CARD_AID))
    assert p.parse_public(ApduResponse.from_bytes(reread(p.read_public()))).card_number == CARD_NUMBER
    assert p.parse_balance(ApduResponse.from_bytes(reread(p.get_balance()))) == 12
    for command in (p.write_key(1, bytes(16)), p.set_balance(99), p.update_public(bytes(36))):
        assert sw(reread(command)) == p.SW_CONDITIONS
    with pytest.raises(PersonalisationError, match="6985"):
        personalise(handler_channel(reread), master, CARD_NUMBER, 2, 12, b"\x00\x00\x00\x01")


def test_the_card_state_survives_a_restart(kit: Kit) -> None:
    kit.terminal().debit(3)
    kit.reload()
    reading = kit.terminal().read()
    assert reading.balance == 7
    assert [r.card_counter for r in reading.records] == [0]
    assert kit.terminal().debit(1).pending.card_counter == 1  # the counter went on, too
    assert kit.psam.state.seq == 2  # and the PSAM's sequence


def test_a_failed_image_write_leaves_the_old_state_on_disk_and_on_the_card(
    kit: Kit, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = kit.card_path.read_bytes()

    real_replace = os.replace

    def crash(src: str, dst: str | Path) -> None:  # the card's power fails between the write and the rename
        if Path(dst) == kit.card_path:
            raise OSError("power lost")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", crash)
    terminal = kit.terminal()
    with pytest.raises(UnreadableCard, match="6F00"):  # the card could not write: it answers an error
        terminal.debit(2)
    monkeypatch.undo()
    assert kit.card_path.read_bytes() == before
    assert not list(kit.card_path.parent.glob("card.json.*.tmp"))  # no temporary file left behind
    kit.reload()
    assert kit.terminal().read().balance == 10


def test_an_image_edited_by_hand_makes_the_card_fail_its_integrity_check(kit: Kit) -> None:
    image = json.loads(kit.card_path.read_text())
    image["balance"] = 500
    kit.card_path.write_text(json.dumps(image))
    card = YearCardOS(ImageStore(kit.card_path))
    assert not card.intact
    assert sw(card(p.select_aid(p.CARD_AID))) == p.SW_MEMORY_FAILURE


def test_an_unreadable_image_is_an_image_error(tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text("{not json")
    with pytest.raises(ImageError, match="not JSON"):
        ImageStore(tmp_path / "x.json").load()
    with pytest.raises(ImageError, match="cannot read"):
        ImageStore(tmp_path / "missing.json").load()
    (tmp_path / "psam.json").write_text(json.dumps({"format": "kiosk-psam/1"}))
    with pytest.raises(ImageError):
        ImageStore(tmp_path / "psam.json").load()


def test_a_debit_needs_a_valid_mac1_and_a_fresh_initialize(kit: Kit) -> None:
    card = kit.card
    card(p.select_aid(p.CARD_AID))
    assert sw(card(p.debit_for_purchase(1, bytes.fromhex("20261130"), bytes.fromhex("140509"), bytes(4)))) == \
        p.SW_CONDITIONS  # no INITIALIZE FOR PURCHASE before
    assert sw(card(p.initialize_for_purchase(6, 2, TERMINAL_ID))) == p.SW_OK
    bad = card(p.debit_for_purchase(1, bytes.fromhex("20261130"), bytes.fromhex("140509"), b"\x00\x00\x00\x00"))
    assert sw(bad) == p.SW_MAC_INVALID
    assert card.state.balance == 10 and card.state.counter == 0
    assert sw(card(p.get_transaction_prove(6, 0))) == p.SW_PROVE_UNAVAILABLE


def test_the_psam_refuses_a_bad_mac2_and_keeps_its_counter_across_restarts(kit: Kit) -> None:
    psam = kit.psam
    psam(p.select_aid(p.PSAM_AID))
    answer = psam(p.init_sam_for_purchase(bytes(4), 0, 2, 6, bytes.fromhex("20261130"), bytes.fromhex("140509"),
                                          p.KEY_VERSION, crypto.ALG_SM4, bytes.fromhex(CARD_NUMBER)))
    assert sw(answer) == p.SW_OK and int.from_bytes(answer[:4], "big") == 1
    assert sw(psam(p.credit_sam_for_purchase(b"\x00\x00\x00\x00"))) == p.SW_MAC_INVALID
    reloaded = PsamOS(PsamStore(kit.psam_path))
    assert reloaded.state.seq == 1
    assert kit.master.purchase.hex() not in repr(reloaded.state.__dict__.get("recent"))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(amounts=st.lists(st.integers(1, 6), min_size=1, max_size=8))
def test_the_balance_never_goes_negative(kit: Kit, amounts: list[int]) -> None:
    kit.reload()
    terminal = kit.terminal()
    start = terminal.read().balance
    spent = 0
    for amount in amounts:
        try:
            proof = terminal.debit(amount)
        except NotEnoughVisits as refused:
            assert amount > start - spent and refused.balance == start - spent
            continue
        spent += amount
        assert proof.balance_after == start - spent >= 0
        assert proof.verify(kit.master.tac)
    assert terminal.read().balance == start - spent >= 0


def test_the_seal_covers_every_field(kit: Kit) -> None:
    body = {k: v for k, v in json.loads(kit.card_path.read_text()).items() if k != "seal"}
    original = seal(body)
    for key in ("balance", "counter"):
        assert seal({**body, key: body[key] + 1}) != original
    assert seal({**body, "log": ["00" * 24]}) != original
