"""Logged in, no card: the counter waits for a tap."""

from __future__ import annotations

from kiosk.flows.counter import CounterState
from kiosk.i18n import Translator
from kiosk.screens.counter.base import CounterScreen
from kiosk.widgets import common  # noqa: F401
from kiosk.widgets.style import load_kv


class WaitingScreen(CounterScreen):
    def show(self, state: CounterState, tr: Translator) -> None:
        self.ids.title.text = tr.text("counter.waiting.title")
        self.ids.hint.text = tr.text("counter.waiting.hint")
        self.ids.read_again.text = tr.text("counter.read_again")


load_kv(__file__)
