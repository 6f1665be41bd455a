"""Reading a card, or an action in progress: keep the card on the reader."""

from __future__ import annotations

from kiosk.flows.counter import CounterState, Step
from kiosk.i18n import Translator
from kiosk.screens.counter.base import CounterScreen
from kiosk.widgets import common  # noqa: F401
from kiosk.widgets.style import load_kv


class BusyScreen(CounterScreen):
    def show(self, state: CounterState, tr: Translator) -> None:
        reading = state.step is Step.READING
        self.ids.title.text = tr.text("counter.reading.title" if reading else "counter.working.title")
        self.ids.hint.text = tr.text("counter.working.hint")


load_kv(__file__)
