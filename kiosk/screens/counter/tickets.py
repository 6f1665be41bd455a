"""Tickets at the counter: today's showings the card covers, how many people; the best seats
together are held, the card debited (kind 06) and the tickets printed through the claim path."""

from __future__ import annotations

from kiosk.flows.counter import CounterState
from kiosk.i18n import Translator
from kiosk.screens.counter.base import CounterScreen
from kiosk.widgets import common  # noqa: F401
from kiosk.widgets.common import KioskButton
from kiosk.widgets.style import load_kv

SHOWINGS_SHOWN = 6


class TicketsScreen(CounterScreen):
    def show(self, state: CounterState, tr: Translator) -> None:
        ids = self.ids
        ids.title.text = tr.text("counter.tickets.title")
        listing = ids.showings
        listing.clear_widgets()
        for index, offer in enumerate(state.showings[:SHOWINGS_SHOWN]):
            button = KioskButton(
                text=tr.text("counter.tickets.showing", film=offer.film_title, hall=offer.hall_name,
                             format=offer.format, at=offer.starts_at, free=offer.seats_free,
                             visits=offer.visits_per_person),
                font_pt=22, role="selected" if index == state.showing else "secondary")
            button.driver_id = f"showing_{index}"
            button.bind(on_release=lambda _b, i=index: self.counter().choose_showing(i))
            listing.add_widget(button)
        ids.people.text = tr.text("counter.tickets.people", count=state.people)
        most = self.counter().max_people() if self.flow is not None else 1
        ids.fewer.disabled = state.people <= 1
        ids.more_people.disabled = state.people >= most
        visits = state.people * (state.showings[state.showing].visits_per_person if state.showings else 1)
        ids.confirm.text = tr.text("counter.tickets.confirm", count=state.people, visits=visits)
        ids.back.text = tr.text("nav.back")

    def change(self, step: int) -> None:
        self.counter().set_people(self.counter().state.people + step)


load_kv(__file__)
