"""What the lost-ticket journey's screens share: the flow they forward touches to."""

from __future__ import annotations

from typing import Any

from kiosk.availability import Availability
from kiosk.flows.recovery import RecoveryState
from kiosk.i18n import Translator
from kiosk.screens.base import KioskScreen

JOURNEY = "recovery"  # the journey's name at the host; its screens are "recovery.<step>"


class RecoveryScreen(KioskScreen):
    @property
    def flow(self) -> Any:
        """The recovery journey (its events: see the end of kiosk/flows/recovery.py)."""
        return self.host.kiosk.journey(JOURNEY)

    def refresh(self, state: Any, tr: Translator, availability: Availability) -> None:
        self.show(state, tr, availability)

    def show(self, state: RecoveryState, tr: Translator, availability: Availability) -> None:
        raise NotImplementedError


def masked_as_typed(digits: str) -> str:
    """A phone number as it is typed, in the 138****5678 shape: the 4th to 7th digits never show,
    so someone behind the person learns little, and the person can still check the ends."""
    return "".join("*" if 3 <= index < 7 else digit for index, digit in enumerate(digits))
