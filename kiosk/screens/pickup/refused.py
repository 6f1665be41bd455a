"""Refused: why the tickets cannot be handed out, with the central's facts, and what to do next."""

from __future__ import annotations

from kiosk.availability import Availability
from kiosk.flows.pickup import PickupState
from kiosk.i18n import Translator
from kiosk.screens.pickup.base import PickupScreen
from kiosk.widgets import common  # noqa: F401  (registers the shared widgets)
from kiosk.widgets.style import load_kv


class RefusedScreen(PickupScreen):
    def show(self, state: PickupState, tr: Translator, availability: Availability) -> None:
        self.ids.title.text = tr.text("refused.title")
        self.ids.message.text = tr.message(state.refusal)
        self.ids.hint.text = tr.message(state.refusal_hint)


load_kv(__file__)
