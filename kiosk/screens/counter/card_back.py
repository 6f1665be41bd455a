"""The card left the reader during a debit: put it back (the debit is then completed or voided)."""

from __future__ import annotations

from kiosk.flows.counter import CounterState
from kiosk.i18n import Translator
from kiosk.screens.counter.base import CounterScreen
from kiosk.widgets import common  # noqa: F401
from kiosk.widgets.style import load_kv


class CardBackScreen(CounterScreen):
    def show(self, state: CounterState, tr: Translator) -> None:
        card = state.card
        self.ids.title.text = tr.text("counter.card_back.title")
        self.ids.message.text = tr.text("counter.card_back.message", card=card.masked_number if card else "")
        self.ids.problem.text = tr.message(state.problem)
        self.ids.read_again.text = tr.text("counter.read_again")


load_kv(__file__)
