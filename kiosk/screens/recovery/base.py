"""What the lost-ticket journey's screens share: the flow they forward touches to."""

from __future__ import annotations

from typing import Any

from kiosk.availability import Availability
from kiosk.flows.recovery import RecoveryFlow, RecoveryState
from kiosk.i18n import Translator
from kiosk.screens.base import KioskScreen

JOURNEY = "recovery"  # the journey's name at the host; its screens are "recovery.<step>"


class RecoveryScreen(KioskScreen):
    @property
    def flow(self) -> RecoveryFlow:
        """The recovery journey (its events: see the end of kiosk/flows/recovery.py)."""
        journey = self.host.kiosk.journey(JOURNEY)
        assert isinstance(journey, RecoveryFlow)
        return journey

    def refresh(self, state: Any, tr: Translator, availability: Availability) -> None:
        self.show(state, tr, availability)

    def show(self, state: RecoveryState, tr: Translator, availability: Availability) -> None:
        raise NotImplementedError


def shown_phone(state: RecoveryState) -> str:
    """The account's phone, masked: as the central masked it, else as typed (138****5678)."""
    if state.sms_sent_to:
        return state.sms_sent_to
    if state.session is not None:
        return state.session.phone_masked
    return state.masked_phone
