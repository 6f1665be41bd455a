"""Home: the journeys offered now (the big "collect tickets" button), the QR hint, the year-card
hint (a card can be tapped at any time), "Lost your ticket?" (the lost-ticket journey), or why
the kiosk is out of service, and a short notice when a QR or a card could not be taken."""

from __future__ import annotations

from typing import Any

from kivy.properties import BooleanProperty

from kiosk.availability import Availability
from kiosk.host import HomeState
from kiosk.i18n import Translator
from kiosk.screens.base import KioskScreen
from kiosk.widgets import common  # noqa: F401  (registers the shared widgets)
from kiosk.widgets.style import load_kv


class HomeScreen(KioskScreen):
    has_cards = BooleanProperty(False)  # the kiosk has the year-card journey: its tile shows
    has_recovery = BooleanProperty(False)  # the kiosk has the lost-ticket journey: its button shows

    def refresh(self, state: Any, tr: Translator, availability: Availability) -> None:
        home: HomeState = state
        ids = self.ids
        in_service = "pickup" in home.offered
        ids.title.text = tr.text("idle.title" if in_service else "idle.out_of_service")
        ids.collect_button.text = tr.text("idle.collect")
        ids.collect_button.disabled = not in_service
        if in_service:
            ids.collect_hint.text = tr.text("idle.collect_hint")
            ids.scan_hint.text = tr.text("idle.scan_hint") if availability.can_scan else ""
            ids.status.text = "" if availability.can_scan else tr.text("idle.scan_unavailable")
        else:
            ids.collect_hint.text = ""
            ids.scan_hint.text = ""
            ids.status.text = tr.join(tr.text(availability.out_of_service_reason or "out_of_service._default"),
                                      tr.text("idle.ask_staff"))
        ids.notice.text = tr.message(home.notice)
        self._show_card(home, tr)
        self._show_recovery(home, tr)

    def _show_card(self, home: HomeState, tr: Translator) -> None:
        """The year-card journey, where the kiosk has one: a card can be tapped at any time."""
        ids = self.ids
        self.has_cards = "card" in self.host.kiosk.journeys
        offered = "card" in home.offered
        ids.card_tile.disabled = not offered
        ids.card_button.text = tr.text("yearcard.home_button") if self.has_cards else ""
        ids.card_hint.text = tr.text("yearcard.home_hint") if offered else ""

    def _show_recovery(self, home: HomeState, tr: Translator) -> None:
        """The "Lost your ticket?" button, where the kiosk has the lost-ticket journey (greyed while it cannot run)."""
        ids = self.ids
        self.has_recovery = "recovery" in self.host.kiosk.journeys
        ids.lost_button.text = tr.text("recovery.home_button") if self.has_recovery else ""
        ids.lost_button.disabled = "recovery" not in home.offered


load_kv(__file__)
