"""Insert card: "Year-card" was chosen on the home screen; the card goes on the reader."""

from __future__ import annotations

from kiosk.availability import Availability
from kiosk.flows.card import CardState
from kiosk.i18n import Translator
from kiosk.screens.card.base import CardScreen
from kiosk.widgets import card_info  # noqa: F401  (registers CardOnReader)
from kiosk.widgets.style import load_kv


class InsertCardScreen(CardScreen):
    def show(self, state: CardState, tr: Translator, availability: Availability) -> None:
        self.ids.title.text = tr.text("yearcard.insert.title")
        self.ids.body.text = tr.text("yearcard.insert.body")


load_kv(__file__)
