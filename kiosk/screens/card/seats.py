"""The seat map: tap seats (the flow decides what a tap means), best available in one tap,
chosen count against the party's size, then Continue."""

from __future__ import annotations

from kiosk.availability import Availability
from kiosk.flows.card import CardState
from kiosk.i18n import Translator
from kiosk.screens.card.base import CardScreen
from kiosk.widgets import progress, seat_map  # noqa: F401  (registers BusySpinner and SeatMapView)
from kiosk.widgets.card_info import seat_names
from kiosk.widgets.style import load_kv


class SeatsScreen(CardScreen):
    def show(self, state: CardState, tr: Translator, availability: Availability) -> None:
        ids = self.ids
        ids.title.text = tr.text("yearcard.seats.title", count=state.people)
        ids.film.text = state.showing.film_title if state.showing is not None else ""
        ids.seat_map.show(state.seat_map, set(state.selected), tr)
        ids.selected_count.text = tr.text("yearcard.seats.selected", selected=len(state.selected),
                                          count=state.people)
        ids.chosen.text = tr.text("yearcard.seats.chosen", seats=seat_names(tr, state.selected)) \
            if state.selected else tr.text("yearcard.seats.tap_hint")
        ids.notice.text = tr.message(state.notice)
        ids.best.text = tr.text("yearcard.seats.best")
        ids.clear_seats.text = tr.text("yearcard.seats.clear")
        ids.next.text = tr.text("yearcard.seats.next")
        ready = state.seat_map is not None and not state.loading
        ids.best.disabled = not ready
        ids.clear_seats.disabled = not ready or not state.selected
        ids.next.disabled = not ready or not state.seats_complete
        spinner = ids.spinner
        spinner.opacity = 1 if state.loading else 0
        if state.loading:
            spinner.start()
        else:
            spinner.stop()

    def on_hidden(self) -> None:
        self.ids.spinner.stop()


load_kv(__file__)
