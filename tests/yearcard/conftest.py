"""Year-card fixtures in-process: test master keys made here, card and PSAM images in tmp_path."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import pytest

from devices.sim.psam import PsamOS, psam_image
from devices.sim.yearcard import handler_channel
from devices.sim.yearcard_os import YearCardOS, personalised_image
from devices.yearcard import crypto
from devices.yearcard.terminal import YearCardTerminal

CARD_NUMBER = "8800000000000042"
TERMINAL_ID = bytes.fromhex("310100010007")  # cinema 31010001, kiosk 0007
TODAY = dt.date(2026, 11, 30)
NOW = dt.datetime(2026, 11, 30, 14, 5, 9)


@dataclass
class Kit:
    master: crypto.MasterKeys
    card_path: Path
    psam_path: Path
    card: YearCardOS
    psam: PsamOS

    def terminal(self) -> YearCardTerminal:
        return YearCardTerminal(handler_channel(self.card), handler_channel(self.psam), clock=lambda: NOW)

    def reload(self) -> None:
        """Both images read again, as after the emulators' process restarted."""
        self.card = YearCardOS(self.card.store)
        self.psam = PsamOS(self.psam.store)


@pytest.fixture
def master() -> crypto.MasterKeys:
    return crypto.MasterKeys.generate()


@pytest.fixture
def kit(tmp_path: Path, master: crypto.MasterKeys) -> Kit:
    card_store = personalised_image(
        tmp_path / "card.json", master, CARD_NUMBER, card_type=3, visits=10, made=TODAY, activated=TODAY
    )
    psam_store = psam_image(tmp_path / "psam.json", master, TERMINAL_ID)
    return Kit(master, card_store.path, psam_store.path, YearCardOS(card_store), PsamOS(psam_store))
