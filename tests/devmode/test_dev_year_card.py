"""The dev panel's card switch puts the configured year-card on the simulated reader (the windowed demo's card)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from devices.sim.card_reader_sim import SimCardReader
from devices.sim.yearcard_os import personalised_image
from devices.yearcard import crypto
from devices.yearcard import profile as p
from kiosk.dev_mode import DevControls

SELECT_APP = bytes.fromhex("00A40400") + bytes((len(p.CARD_AID),)) + p.CARD_AID


def test_the_card_switch_puts_the_year_card_on_and_takes_it_off(tmp_path: Path) -> None:
    image = tmp_path / "card.json"
    personalised_image(image, crypto.MasterKeys.generate(), "8800000000000077", card_type=1, visits=7,
                       activated=dt.date.today())
    reader = SimCardReader()
    controls = DevControls(camera=None, card=reader, printer=None, network=None, year_card_image=str(image))
    controls.toggle_card()
    assert controls.card_on and reader.atr == p.CARD_ATR
    assert reader.transmit(SELECT_APP).ok  # the year-card's application answers, not the generic test card
    controls.toggle_card()
    assert not controls.card_on


def test_without_a_year_card_image_the_switch_puts_the_generic_test_card(tmp_path: Path) -> None:
    reader = SimCardReader()
    controls = DevControls(camera=None, card=reader, printer=None, network=None)
    controls.toggle_card()
    assert controls.card_on and reader.atr != p.CARD_ATR
