"""Code entry: serial then verification on a large keypad, with the wrong-code countdown."""

from __future__ import annotations

from kiosk.availability import Availability
from kiosk.flows.pickup import CODE_LENGTH, PickupState
from kiosk.i18n import Translator
from kiosk.screens.pickup.base import PickupScreen
from kiosk.widgets import keypad  # noqa: F401  (registers Keypad and CodeField)
from kiosk.widgets.style import load_kv


class EnterCodeScreen(PickupScreen):
    def show(self, state: PickupState, tr: Translator, availability: Availability) -> None:
        ids = self.ids
        ids.title.text = tr.text("code.title")
        ids.serial.caption = tr.text("code.serial")
        ids.serial.digits = state.serial
        ids.serial.active = len(state.serial) < CODE_LENGTH
        ids.verification.caption = tr.text("code.verification")
        ids.verification.digits = state.verification
        ids.verification.active = len(state.serial) == CODE_LENGTH and len(state.verification) < CODE_LENGTH
        ids.keypad.clear_text = tr.text("code.clear")
        ids.keypad.backspace_text = tr.text("code.backspace")
        minutes = max(1, -(-state.locked_seconds // 60))  # whole minutes, rounded up
        ids.locked.text = tr.text("code.locked", minutes=minutes, count=minutes) if state.locked_seconds else ""
        ids.submit.text = tr.text("code.submit")
        ids.submit.disabled = not state.code_complete or state.locked_seconds > 0


load_kv(__file__)
