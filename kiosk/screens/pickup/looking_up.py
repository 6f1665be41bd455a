"""Looking up: the central is asked; a spinner turns (Cancel drops the answer)."""

from __future__ import annotations

from kiosk.availability import Availability
from kiosk.flows.pickup import PickupState
from kiosk.i18n import Translator
from kiosk.screens.pickup.base import PickupScreen
from kiosk.widgets import progress  # noqa: F401  (registers BusySpinner)
from kiosk.widgets.style import load_kv


class LookingUpScreen(PickupScreen):
    def show(self, state: PickupState, tr: Translator, availability: Availability) -> None:
        self.ids.busy.text = tr.text("lookup.busy")
        self.ids.wait.text = tr.text("lookup.wait")

    def on_shown(self) -> None:
        self.ids.spinner.start()

    def on_hidden(self) -> None:
        self.ids.spinner.stop()


load_kv(__file__)
