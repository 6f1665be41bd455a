"""ID digits: the last 4 characters of the ID number (0-9, and X as a check digit), when the chain
asks for them besides the phone."""

from __future__ import annotations

from kiosk.availability import Availability
from kiosk.flows.recovery import ID_DIGITS_LENGTH, RecoveryState
from kiosk.i18n import Translator
from kiosk.screens.recovery.base import RecoveryScreen
from kiosk.screens.recovery.phone import grouped
from kiosk.widgets import keypad  # noqa: F401  (registers Keypad)
from kiosk.widgets.style import load_kv


class IdDigitsScreen(RecoveryScreen):
    def show(self, state: RecoveryState, tr: Translator, availability: Availability) -> None:
        ids = self.ids
        ids.title.text = tr.text("recovery.id.title")
        ids.id_digits.text = grouped(state.id_digits, ID_DIGITS_LENGTH, (ID_DIGITS_LENGTH,))
        ids.hint.text = tr.text("recovery.id.hint")
        ids.note.text = tr.message(state.entry_note)
        ids.keypad.clear_text = tr.text("code.clear")
        ids.keypad.backspace_text = tr.text("code.backspace")
        # X only as the last character (a resident ID's check digit).
        ids.key_x.disabled = len(state.id_digits) != ID_DIGITS_LENGTH - 1
        ids.submit.text = tr.text("recovery.next")
        ids.submit.disabled = len(state.id_digits) < ID_DIGITS_LENGTH


load_kv(__file__)
