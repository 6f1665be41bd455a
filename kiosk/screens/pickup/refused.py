"""Refused: why the tickets cannot be handed out, with the central's facts, and what to do next."""

from __future__ import annotations

from kiosk.availability import Availability
from kiosk.flows.pickup import PickupState
from kiosk.i18n import Translator
from kiosk.screens.pickup.base import PickupScreen
from kiosk.widgets import common  # noqa: F401  (registers the shared widgets)
from kiosk.widgets.style import load_kv

# Refusals where no order was found: "we cannot print these tickets" would speak of tickets never shown.
NOT_FOUND = frozenset({"refusal.unknown_code", "refusal.invalid_token", "refusal.not_our_code", "refusal.ticket_token"})


class RefusedScreen(PickupScreen):
    def show(self, state: PickupState, tr: Translator, availability: Availability) -> None:
        not_found = state.refusal is not None and state.refusal.key in NOT_FOUND
        self.ids.title.text = tr.text("refused.title.not_found" if not_found else "refused.title")
        self.ids.message.text = tr.message(state.refusal)
        self.ids.hint.text = tr.message(state.refusal_hint)


load_kv(__file__)
