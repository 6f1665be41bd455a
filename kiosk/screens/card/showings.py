"""Today's showings the card's type covers at this cinema: film, time, hall and format, visits
per person, seats free.  A tap chooses one."""

from __future__ import annotations

from kiosk.availability import Availability
from kiosk.flows.card import CardState
from kiosk.i18n import Translator
from kiosk.screens.card.base import CardScreen
from kiosk.widgets import card_info, progress  # noqa: F401  (registers ShowingList and BusySpinner)
from kiosk.widgets.style import load_kv


class ShowingsScreen(CardScreen):
    def show(self, state: CardState, tr: Translator, availability: Availability) -> None:
        ids = self.ids
        ids.title.text = tr.text("yearcard.showings.title")
        ids.notice.text = tr.message(state.notice)
        ids.showing_list.show(state.showings, tr)
        spinner = ids.spinner
        spinner.opacity = 1 if state.loading else 0
        if state.loading:
            spinner.start()
        else:
            spinner.stop()

    def on_hidden(self) -> None:
        self.ids.spinner.stop()


load_kv(__file__)
