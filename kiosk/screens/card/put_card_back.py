"""Put your card back: the card left the reader during the debit.  Nothing is lost; the kiosk
finds out from the card whether the visit was used and finishes or voids the redemption."""

from __future__ import annotations

from kiosk.availability import Availability
from kiosk.flows.card import CardState
from kiosk.i18n import Translator
from kiosk.screens.card.base import CardScreen
from kiosk.widgets import card_info  # noqa: F401  (registers CardOnReader)
from kiosk.widgets.style import load_kv


class PutCardBackScreen(CardScreen):
    def show(self, state: CardState, tr: Translator, availability: Availability) -> None:
        ids = self.ids
        ids.title.text = tr.text("yearcard.put_back.title")
        ids.body.text = tr.text("yearcard.put_back.body")
        ids.same_card.text = tr.text("yearcard.put_back.wrong_card") if state.wrong_card \
            else tr.text("yearcard.put_back.same_card")


load_kv(__file__)
