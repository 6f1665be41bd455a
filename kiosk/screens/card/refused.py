"""Refused: why the card cannot be used (or the redemption did not go through) and what to do
next; the card's facts when it was read (an expired card still shows its visits and expiry)."""

from __future__ import annotations

from kiosk.availability import Availability
from kiosk.flows.card import CardState
from kiosk.i18n import Translator
from kiosk.screens.card.base import CardScreen
from kiosk.widgets import card_info  # noqa: F401  (registers CardPanel)
from kiosk.widgets.style import load_kv

# Refusals where the card itself could not be read: "this card cannot be used" would be a guess.
NOT_READ = frozenset({"refusal.card_unreadable", "refusal.card_service_down"})
# Refusals of a redemption under way (the card was fine): say the tickets did not come.
REDEMPTION = frozenset({
    "refusal.card_not_debited", "refusal.card_debit_unknown", "refusal.card_wrong_card",
    "refusal.card_removed_before_debit", "refusal.seats_taken", "refusal.not_enough_visits",
    "refusal.too_many_people", "refusal.not_covered", "refusal.showing_not_found", "refusal.redemption_not_found",
    "refusal.redemption_expired", "refusal.tac_invalid", "refusal.offline", "refusal.central_error",
})


class CardRefusedScreen(CardScreen):
    def show(self, state: CardState, tr: Translator, availability: Availability) -> None:
        key = state.refusal.key if state.refusal is not None else ""
        if key in NOT_READ:
            title = "yearcard.refused.read_title"
        elif key in REDEMPTION and state.showing is not None:
            title = "yearcard.refused.redeem_title"
        else:
            title = "yearcard.refused.title"
        ids = self.ids
        ids.title.text = tr.text(title)
        ids.message.text = tr.message(state.refusal)
        ids.hint.text = tr.message(state.refusal_hint)
        ids.card_panel.show(state.card, tr)
        ids.card_panel.opacity = 1 if state.card is not None else 0


load_kv(__file__)
