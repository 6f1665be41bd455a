"""How many people: minus, the number, plus (up to the card's limit for this showing)."""

from __future__ import annotations

from kiosk.availability import Availability
from kiosk.flows.card import CardState
from kiosk.i18n import Translator
from kiosk.screens.card.base import CardScreen
from kiosk.widgets import common  # noqa: F401  (registers the shared widgets)
from kiosk.widgets.style import load_kv


class PeopleScreen(CardScreen):
    def show(self, state: CardState, tr: Translator, availability: Availability) -> None:
        ids = self.ids
        ids.title.text = tr.text("yearcard.people.title")
        ids.film.text = state.showing.film_title if state.showing is not None else ""
        ids.count.text = str(state.people)
        ids.remove_person.text = tr.text("yearcard.people.remove")
        ids.add_person.text = tr.text("yearcard.people.add")
        ids.remove_person.disabled = state.people <= 1
        ids.add_person.disabled = state.people >= state.max_people
        ids.limit.text = tr.text("yearcard.people.limit", count=state.max_people)
        ids.visits.text = tr.text("yearcard.people.visits", count=state.visits_to_deduct)
        ids.notice.text = tr.message(state.notice)
        ids.next.text = tr.text("yearcard.people.next")


load_kv(__file__)
