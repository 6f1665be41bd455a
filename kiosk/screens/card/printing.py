"""Printing: the shared progress bar, how many visits were used and how many are left.
The nav bar's Cancel reads "stop after this ticket" here (the rest stay owed to the card)."""

from __future__ import annotations

from kiosk.availability import Availability
from kiosk.flows.card import CardState
from kiosk.i18n import Translator
from kiosk.screens.card.base import CardScreen
from kiosk.widgets import progress  # noqa: F401  (registers PrintProgress)
from kiosk.widgets.style import load_kv


class CardPrintingScreen(CardScreen):
    def show(self, state: CardState, tr: Translator, availability: Availability) -> None:
        ids = self.ids
        ids.title.text = tr.text("print.title")
        bar = ids.progress
        # The pickup journey's progress widget, fed with counts (a redemption has no ticket lines to list).
        bar.done, bar.total = state.printed, state.total_tickets
        bar.ids.count.text = tr.text("print.progress", done=state.printed, total=state.total_tickets)
        if state.redemption_id is not None and state.card is not None:  # this visit's redemption (not owed tickets)
            used = state.visits_to_deduct
            ids.visits.text = tr.text("yearcard.printing.visits_used", count=used,
                                      left=max(state.card.visits_left - used, 0))
        else:
            ids.visits.text = ""
        ids.note.text = tr.text("print.keep_waiting")


load_kv(__file__)
