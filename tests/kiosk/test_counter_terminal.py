"""The counter's keyless card operations on the terminal: GET CHALLENGE and the secure write of the
issuer's update data (the central computes it; the terminal only passes it on)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from devices.sim.psam import PsamOS, psam_image
from devices.sim.yearcard import handler_channel
from devices.sim.yearcard_os import ImageStore, YearCardOS, personalised_image
from devices.yearcard import crypto
from devices.yearcard import profile as p
from devices.yearcard.personalise import signed_public
from devices.yearcard.terminal import CardIntegrityError, WrongCard, YearCardTerminal

NUMBER = "8800000000000077"
TODAY = dt.date(2026, 11, 30)


def _made(tmp_path: Path) -> tuple[crypto.MasterKeys, YearCardOS, YearCardTerminal]:
    master = crypto.MasterKeys.generate()
    card = YearCardOS(personalised_image(tmp_path / "made.json", master, NUMBER, made=TODAY))
    psam = PsamOS(psam_image(tmp_path / "psam.json", master, bytes.fromhex("310100010007")))
    return master, card, YearCardTerminal(handler_channel(card), handler_channel(psam))


def _issuer_update(master: crypto.MasterKeys, current: p.PublicInfo, challenge: str, **changes: object) -> str:
    public = signed_public(master, current, **changes)
    mac = crypto.secure_update_mac(master.card_keys(NUMBER).maintenance, bytes.fromhex(challenge),
                                   p.SECURE_UPDATE_HEADER, public)
    return (public + mac).hex().upper()


def test_the_issuers_update_for_the_cards_challenge_is_written(tmp_path: Path) -> None:
    master, card, terminal = _made(tmp_path)
    current = terminal.read_public()
    challenge = terminal.challenge()
    assert len(challenge) == 8
    expires = TODAY + dt.timedelta(days=365)
    terminal.write_public(_issuer_update(master, current, challenge, sold=True, activated=TODAY, expires=expires),
                          expect_card=NUMBER)
    after = terminal.read_public()  # the PSAM accepts the new file's issuer MAC
    assert (after.sold, after.activated, after.expires) == (True, TODAY, expires)
    assert YearCardOS(ImageStore(card.store.path)).state.public == after.raw  # on the image: it survives


def test_a_stale_challenge_or_another_issuer_changes_nothing(tmp_path: Path) -> None:
    master, _card, terminal = _made(tmp_path)
    current = terminal.read_public()
    old = terminal.challenge()
    terminal.challenge()  # a new challenge: the old one is spent
    with pytest.raises(CardIntegrityError):
        terminal.write_public(_issuer_update(master, current, old, sold=True, activated=TODAY,
                                             expires=TODAY + dt.timedelta(days=1)))
    stranger = crypto.MasterKeys.generate()
    with pytest.raises(CardIntegrityError):
        terminal.write_public(_issuer_update(stranger, current, terminal.challenge(), sold=True, activated=TODAY,
                                             expires=TODAY + dt.timedelta(days=1)))
    assert terminal.read_public() == current


def test_update_data_for_another_card_or_of_the_wrong_shape_is_not_sent(tmp_path: Path) -> None:
    master, _card, terminal = _made(tmp_path)
    current = terminal.read_public()
    data = _issuer_update(master, current, terminal.challenge(), sold=True, activated=TODAY,
                          expires=TODAY + dt.timedelta(days=1))
    with pytest.raises(WrongCard):
        terminal.write_public(data, expect_card="8800000000000042")
    with pytest.raises(ValueError):
        terminal.write_public("00" * 10)
    with pytest.raises(ValueError):
        terminal.write_public("zz" * 40)
    assert terminal.read_public() == current
