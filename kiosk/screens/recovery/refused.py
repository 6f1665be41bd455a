"""Refused: why the tickets cannot be recovered here and what to do next (the counter, another
number, a wait); a failed face with an SMS code still possible never lands here, the face screen
offers the code instead."""

from __future__ import annotations

from kiosk.availability import Availability
from kiosk.flows.recovery import RecoveryState
from kiosk.i18n import Translator
from kiosk.screens.recovery.base import RecoveryScreen
from kiosk.widgets import common  # noqa: F401  (registers the shared widgets)
from kiosk.widgets.style import load_kv


class RecoveryRefusedScreen(RecoveryScreen):
    def show(self, state: RecoveryState, tr: Translator, availability: Availability) -> None:
        ids = self.ids
        ids.title.text = tr.text("recovery.refused.title")
        ids.message.text = tr.message(state.refusal)
        ids.hint.text = tr.message(state.refusal_hint)
        ids.finish.text = tr.text("done.finish")


load_kv(__file__)
