"""What every counter screen shares: the flow it shows and forwards touches to."""

from __future__ import annotations

from kivy.properties import ObjectProperty
from kivy.uix.screenmanager import Screen

from kiosk.flows.counter import CounterFlow, CounterState
from kiosk.i18n import Translator


class CounterScreen(Screen):
    flow = ObjectProperty(None, allownone=True)

    def show(self, state: CounterState, tr: Translator) -> None:
        raise NotImplementedError

    def counter(self) -> CounterFlow:
        flow: CounterFlow = self.flow
        return flow
