"""The screens where the kiosk works and the card must stay on the reader: reading the card,
holding the seats, debiting the card, checking a card put back after a pull.

One layout (a spinner, what is happening, "keep the card on the reader"), one screen class per
step so that each keeps its own name (``card.reading``, ``card.debiting`` ...).
"""

from __future__ import annotations

from typing import ClassVar

from kiosk.availability import Availability
from kiosk.flows.card import CardState
from kiosk.i18n import Translator
from kiosk.screens.card.base import CardScreen
from kiosk.widgets import card_info, progress  # noqa: F401  (registers CardOnReader and BusySpinner)
from kiosk.widgets.style import load_kv


class CardWaitingScreen(CardScreen):
    title_key: ClassVar[str]
    body_key: ClassVar[str] = "yearcard.reading.hold"

    def show(self, state: CardState, tr: Translator, availability: Availability) -> None:
        self.ids.title.text = tr.text(self.title_key)
        self.ids.body.text = tr.text(self.body_key)

    def on_shown(self) -> None:
        self.ids.spinner.start()

    def on_hidden(self) -> None:
        self.ids.spinner.stop()


class ReadingScreen(CardWaitingScreen):
    title_key = "yearcard.reading.title"


class HoldingScreen(CardWaitingScreen):
    title_key = "yearcard.holding.title"
    body_key = "yearcard.confirm.keep_card"


class DebitingScreen(CardWaitingScreen):
    title_key = "yearcard.debiting.title"
    body_key = "yearcard.debiting.keep"


class RecoveringScreen(CardWaitingScreen):
    title_key = "yearcard.recovering.title"
    body_key = "yearcard.debiting.keep"


load_kv(__file__)
