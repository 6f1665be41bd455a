"""The card: masked number, type, visits left, expiry, its last uses; Redeem, and tickets owed.

Offline (or with no visits left) Redeem is off and the reason shows above it; the card's facts
and history still show (read from the card itself when the central cannot be asked).
"""

from __future__ import annotations

from kiosk.availability import Availability
from kiosk.flows.card import CardState
from kiosk.i18n import Translator
from kiosk.screens.card.base import CardScreen
from kiosk.widgets.card_info import history_items  # also registers CardPanel and CardHistory
from kiosk.widgets.style import load_kv


class CardViewScreen(CardScreen):
    def show(self, state: CardState, tr: Translator, availability: Availability) -> None:
        ids = self.ids
        ids.title.text = tr.text("yearcard.view.title")
        ids.card_panel.show(state.card, tr)
        items = history_items(state.history, state.records, tr)
        ids.history.show(items)
        ids.history_title.text = tr.text("yearcard.view.history_title")
        if not items:
            ids.history_note.text = tr.text("yearcard.view.history_empty")
        elif not state.history:  # shown from the card's own log (offline)
            ids.history_note.text = tr.text("yearcard.view.history_from_card")
        else:
            ids.history_note.text = ""
        ids.block.text = tr.message(state.redeem_block)
        ids.notice.text = tr.message(state.notice)
        owed_tickets = sum(line.seats for line in state.owed)
        ids.print_owed.text = tr.text("yearcard.view.owed_button", count=owed_tickets) if state.owed else ""
        ids.print_owed.opacity = 1 if state.owed else 0
        ids.print_owed.disabled = not state.owed
        ids.redeem.text = tr.text("yearcard.view.redeem")
        ids.redeem.disabled = not state.can_redeem


load_kv(__file__)
