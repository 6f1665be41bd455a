"""Phone: the number bound to the ticketing account, on the large keypad, masked as it is typed."""

from __future__ import annotations

from kiosk.availability import Availability
from kiosk.flows.recovery import PHONE_LENGTH, RecoveryState
from kiosk.i18n import Translator
from kiosk.screens.recovery.base import RecoveryScreen
from kiosk.widgets import keypad  # noqa: F401  (registers Keypad)
from kiosk.widgets.style import load_kv

GROUPS = (3, 4, 4)  # 138 **** 5678


def grouped(shown: str, length: int, groups: tuple[int, ...] = GROUPS) -> str:
    """What has been typed, then a place for each character still to come, in groups."""
    padded = shown + "_" * max(length - len(shown), 0)
    parts, start = [], 0
    for size in groups:
        parts.append(padded[start:start + size])
        start += size
    return " ".join(part for part in parts if part)


class PhoneScreen(RecoveryScreen):
    def show(self, state: RecoveryState, tr: Translator, availability: Availability) -> None:
        ids = self.ids
        ids.title.text = tr.text("recovery.phone.title")
        ids.number.text = grouped(state.masked_phone, PHONE_LENGTH)
        ids.hint.text = tr.text("recovery.phone.hint")
        ids.note.text = tr.message(state.entry_note)
        ids.keypad.clear_text = tr.text("code.clear")
        ids.keypad.backspace_text = tr.text("code.backspace")
        ids.submit.text = tr.text("recovery.next")
        ids.submit.disabled = len(state.phone) < PHONE_LENGTH


load_kv(__file__)
