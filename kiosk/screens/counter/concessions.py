"""Concessions (卖品): how many visits to deduct, then confirm."""

from __future__ import annotations

from kiosk.flows.counter import CounterState
from kiosk.i18n import Translator
from kiosk.screens.counter.base import CounterScreen
from kiosk.widgets import common  # noqa: F401
from kiosk.widgets.style import load_kv


class ConcessionsScreen(CounterScreen):
    def show(self, state: CounterState, tr: Translator) -> None:
        card = state.card
        ids = self.ids
        ids.title.text = tr.text("counter.concessions.title")
        ids.card.text = tr.text("counter.concessions.card", card=card.masked_number if card else "",
                                visits_left=card.view.visits_left if card else 0)
        ids.count.text = str(state.visits)
        ids.less.disabled = state.visits <= 1
        ids.more.disabled = state.visits >= state.max_visits
        ids.confirm.text = tr.text("counter.concessions.confirm", count=state.visits)
        ids.back.text = tr.text("nav.back")

    def change(self, step: int) -> None:
        self.counter().set_visits(self.counter().state.visits + step)


load_kv(__file__)
