"""Blacklist (黑名单, manager): why the card is blocked; the central keeps the reason."""

from __future__ import annotations

from kiosk.flows.counter import BLACKLIST_REASONS, CounterState
from kiosk.i18n import Translator
from kiosk.screens.counter.base import CounterScreen
from kiosk.widgets import common  # noqa: F401
from kiosk.widgets.style import load_kv

REASON_TEXTS = {
    "lost": "counter.blacklist.reason.lost",
    "stolen": "counter.blacklist.reason.stolen",
    "misuse": "counter.blacklist.reason.misuse",
    "damaged": "counter.blacklist.reason.damaged",
}


class BlacklistScreen(CounterScreen):
    def show(self, state: CounterState, tr: Translator) -> None:
        card = state.card
        self.ids.title.text = tr.text("counter.blacklist.title", card=card.masked_number if card else "")
        for reason in BLACKLIST_REASONS:
            self.ids[f"reason_{reason}"].text = tr.text(REASON_TEXTS[reason])
        self.ids.back.text = tr.text("nav.back")

    def choose(self, reason: str) -> None:
        self.counter().blacklist(reason)


load_kv(__file__)
