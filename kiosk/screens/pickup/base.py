"""What the pickup journey's screens share: the flow they forward touches to."""

from __future__ import annotations

from typing import Any

from kiosk.availability import Availability
from kiosk.flows.pickup import PickupFlow, PickupState
from kiosk.i18n import Translator
from kiosk.screens.base import KioskScreen


class PickupScreen(KioskScreen):
    @property
    def flow(self) -> PickupFlow:
        journey = self.host.kiosk.journey(PickupFlow.name)
        assert isinstance(journey, PickupFlow)
        return journey

    def refresh(self, state: Any, tr: Translator, availability: Availability) -> None:
        self.show(state, tr, availability)

    def show(self, state: PickupState, tr: Translator, availability: Availability) -> None:
        raise NotImplementedError
