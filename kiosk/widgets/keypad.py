"""The on-screen keypad and the digit boxes of one code field."""

from __future__ import annotations

from typing import Any

from kivy.properties import BooleanProperty, StringProperty
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.gridlayout import GridLayout
from kivy.uix.label import Label

from kiosk.flows.pickup import CODE_LENGTH
from kiosk.widgets import common  # noqa: F401  (registers KioskButton / KioskLabel rules)
from kiosk.widgets.style import load_kv


class Keypad(GridLayout):
    """Digits 1-9, clear, 0, delete.  Buttons are named ``key_0``..``key_9``, ``key_clear``, ``key_backspace``."""

    clear_text = StringProperty("C")
    backspace_text = StringProperty("<")
    __events__ = ("on_digit", "on_backspace", "on_clear")

    def on_digit(self, digit: str) -> None:
        pass

    def on_backspace(self) -> None:
        pass

    def on_clear(self) -> None:
        pass

    def press(self, key: str, *_args: Any) -> None:
        if key == "clear":
            self.dispatch("on_clear")
        elif key == "backspace":
            self.dispatch("on_backspace")
        else:
            self.dispatch("on_digit", key)


class DigitBox(Label):
    active = BooleanProperty(False)


class CodeField(BoxLayout):
    """A caption above one box per digit; the box the next digit goes to is highlighted."""

    caption = StringProperty("")
    digits = StringProperty("")
    active = BooleanProperty(False)  # this field receives the next digit

    def on_kv_post(self, base_widget: Any) -> None:
        for _ in range(CODE_LENGTH):
            self.ids.boxes.add_widget(DigitBox())
        self._show()

    def on_digits(self, *_args: Any) -> None:
        self._show()

    def on_active(self, *_args: Any) -> None:
        self._show()

    def _show(self) -> None:
        if "boxes" not in self.ids:
            return
        # BoxLayout keeps its children last-added-first.
        for index, box in enumerate(reversed(self.ids.boxes.children)):
            box.text = self.digits[index] if index < len(self.digits) else ""
            box.active = self.active and index == len(self.digits)


load_kv(__file__)
