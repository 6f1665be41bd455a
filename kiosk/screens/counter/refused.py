"""A card the counter cannot show: why, and what to do next."""

from __future__ import annotations

from kiosk.flows.counter import CounterState
from kiosk.i18n import Translator
from kiosk.screens.counter.base import CounterScreen
from kiosk.widgets import common  # noqa: F401
from kiosk.widgets.style import load_kv


class CounterRefusedScreen(CounterScreen):
    def show(self, state: CounterState, tr: Translator) -> None:
        self.ids.title.text = tr.text("counter.refused.title")
        self.ids.message.text = tr.message(state.refusal)
        self.ids.hint.text = tr.message(state.refusal_hint)
        self.ids.close.text = tr.text("counter.close")


load_kv(__file__)
