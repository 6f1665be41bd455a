"""What the year-card journey's screens share: the flow they forward touches to."""

from __future__ import annotations

from typing import Any

from kiosk.availability import Availability
from kiosk.flows.card import CardFlow, CardState
from kiosk.i18n import Translator
from kiosk.screens.base import KioskScreen


class CardScreen(KioskScreen):
    @property
    def flow(self) -> CardFlow:
        journey = self.host.kiosk.journey(CardFlow.name)
        assert isinstance(journey, CardFlow)
        return journey

    def refresh(self, state: Any, tr: Translator, availability: Availability) -> None:
        self.show(state, tr, availability)

    def show(self, state: CardState, tr: Translator, availability: Availability) -> None:
        raise NotImplementedError
