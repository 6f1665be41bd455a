"""Done: tickets printed and visits left; or the partial outcomes: some printed, some owed to
the card (printed at its next tap), some in doubt (staff)."""

from __future__ import annotations

from kiosk.availability import Availability
from kiosk.flows.card import CardState
from kiosk.i18n import Translator
from kiosk.screens.card.base import CardScreen
from kiosk.widgets import common  # noqa: F401  (registers the shared widgets)
from kiosk.widgets.style import load_kv


class CardDoneScreen(CardScreen):
    def show(self, state: CardState, tr: Translator, availability: Availability) -> None:
        ids = self.ids
        complete = state.printed and not state.tickets_owed and not state.in_doubt
        if complete:
            ids.title.text = tr.text("yearcard.done.title")
        else:
            ids.title.text = tr.text("yearcard.done.partial_title" if state.printed else "yearcard.done.none_title")
        ids.printed.text = tr.text("done.printed", count=state.printed) if state.printed else ""
        ids.take.text = tr.text("done.take") if state.printed else ""
        visits = ""
        if state.card is not None:
            left = tr.text("yearcard.done.visits_left", count=max(state.card.visits_left - state.visits_used, 0))
            visits = tr.join(tr.text("yearcard.done.visits_used", count=state.visits_used), left) \
                if state.visits_used else left
        ids.visits.text = visits
        owed = ""
        if state.tickets_owed:
            note = state.result_note
            # "card.tickets_at_next_tap" says what the owed text says already: only a cause is added.
            cause = tr.message(note) if note is not None and note.key != "card.tickets_at_next_tap" else ""
            owed = tr.join(cause, tr.text("yearcard.done.owed", count=state.tickets_owed))
        elif state.result_note is not None:
            owed = tr.message(state.result_note)
        ids.owed.text = owed
        ids.in_doubt.text = tr.text("yearcard.done.in_doubt", count=state.in_doubt) if state.in_doubt else ""
        ids.take_card.text = tr.text("yearcard.done.take_card")
        ids.finish.text = tr.text("done.finish")


load_kv(__file__)
