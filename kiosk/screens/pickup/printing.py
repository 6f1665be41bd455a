"""Printing: progress per ticket.  The nav bar's Cancel reads "stop after this ticket" here."""

from __future__ import annotations

from kiosk.availability import Availability
from kiosk.flows.pickup import PickupState
from kiosk.i18n import Translator
from kiosk.screens.pickup.base import PickupScreen
from kiosk.widgets import progress  # noqa: F401  (registers PrintProgress)
from kiosk.widgets.style import load_kv


class PrintingScreen(PickupScreen):
    def show(self, state: PickupState, tr: Translator, availability: Availability) -> None:
        self.ids.title.text = tr.text("print.title")
        self.ids.progress.show(state.lines, state.printing_index, tr)
        self.ids.note.text = tr.text("print.stopping") if state.stop_requested else tr.text("print.keep_waiting")


load_kv(__file__)
