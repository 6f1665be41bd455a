"""Confirm: the showing, the seats, the visits to deduct and the visits left after; Confirm is
off until the card is on the reader and the printer can print (a visit is never deducted for a
ticket that cannot print now)."""

from __future__ import annotations

from kiosk.availability import Availability
from kiosk.flows.card import CardState
from kiosk.i18n import Translator
from kiosk.screens.card.base import CardScreen
from kiosk.widgets import style
from kiosk.widgets.card_info import clock, seat_names  # also registers the card widgets
from kiosk.widgets.style import load_kv


class ConfirmScreen(CardScreen):
    def show(self, state: CardState, tr: Translator, availability: Availability) -> None:
        ids = self.ids
        showing = state.showing
        ids.title.text = tr.text("yearcard.confirm.title")
        ids.film.text = showing.film_title if showing is not None else ""
        ids.when.text = tr.datetime(showing.starts_at) if showing is not None else ""
        ids.hall.text = tr.text("yearcard.showings.hall", hall=showing.hall_name, format=showing.format) \
            if showing is not None else ""
        ids.ends.text = tr.text("yearcard.showings.time", start=clock(tr, showing.starts_at),
                                end=clock(tr, showing.ends_at)) if showing is not None else ""
        ids.people.text = tr.text("yearcard.confirm.people", count=state.people)
        ids.seats.text = tr.text("yearcard.confirm.seats", seats=seat_names(tr, state.selected))
        ids.deduct.text = tr.text("yearcard.confirm.deduct", count=state.visits_to_deduct)
        left = state.card.visits_left - state.visits_to_deduct if state.card is not None else 0
        ids.left_after.text = tr.text("yearcard.confirm.left_after", count=max(left, 0))
        ids.keep_card.text = tr.text("yearcard.confirm.keep_card") if state.card_present \
            else tr.text("yearcard.confirm.put_back")
        ids.keep_card.color = style.GOOD_TEXT if state.card_present else style.PROBLEM_TEXT
        if state.printer_problem is not None:
            ids.problem.text = tr.join(tr.message(state.printer_problem), tr.text("review.printer_help"))
        else:
            ids.problem.text = tr.message(state.notice) if state.card_present else ""
        ids.confirm.text = tr.text("yearcard.confirm.button", count=state.visits_to_deduct)
        ids.confirm.disabled = not state.can_confirm


load_kv(__file__)
