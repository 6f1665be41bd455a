"""Staff login: staff number and password on the keypad (or a keyboard), the central's answer below.

The password shows as dots; the screen shows the login flow's state and forwards keys, nothing more.
"""

from __future__ import annotations

from kivy.properties import ObjectProperty
from kivy.uix.screenmanager import Screen

from kiosk.flows.staff_login import Field, LoginState, LoginStep, StaffLogin
from kiosk.i18n import Translator
from kiosk.widgets import common, keypad  # noqa: F401  (registers KioskButton, KioskLabel, Keypad)
from kiosk.widgets.style import load_kv

PASSWORD_DOT = "\u25cf"


class StaffLoginScreen(Screen):
    login = ObjectProperty(None, allownone=True)  # the StaffLogin flow

    def show(self, state: LoginState, tr: Translator) -> None:
        ids = self.ids
        ids.title.text = tr.text("staff.login.title")
        ids.staff_no_caption.text = tr.text("staff.login.staff_no")
        ids.password_caption.text = tr.text("staff.login.password")
        ids.staff_no_field.text = state.staff_no
        ids.password_field.text = PASSWORD_DOT * state.password_length
        ids.staff_no_field.role = "selected" if state.focus is Field.STAFF_NO else "secondary"
        ids.password_field.role = "selected" if state.focus is Field.PASSWORD else "secondary"
        checking = state.step is LoginStep.CHECKING
        ids.submit.text = tr.text("staff.login.checking" if checking else "staff.login.submit")
        ids.submit.disabled = checking or not state.staff_no or state.password_length == 0
        ids.keypad.disabled = checking
        ids.keypad.clear_text = tr.text("code.clear")
        ids.keypad.backspace_text = tr.text("code.backspace")
        refusal = tr.message(state.refusal)
        detail = tr.message(state.detail)
        ids.refusal.text = tr.join(refusal, detail) if refusal else ""
        ids.note.text = tr.message(state.note) if not refusal else ""
        ids.hint.text = tr.text("staff.login.hint")

    # -- touches (forwarded) --

    def _flow(self) -> StaffLogin | None:
        login: StaffLogin | None = self.login
        return login

    def focus_field(self, name: str) -> None:
        login = self._flow()
        if login is not None:
            login.focus(Field(name))

    def digit(self, digit: str) -> None:
        login = self._flow()
        if login is not None:
            login.type(digit)

    def backspace(self) -> None:
        login = self._flow()
        if login is not None:
            login.backspace()

    def clear(self) -> None:
        login = self._flow()
        if login is not None:
            login.clear()

    def submit(self) -> None:
        login = self._flow()
        if login is not None:
            login.submit()

    def keyboard(self, text: str | None, key: int) -> bool:
        """A hardware key: characters go to the focused field, Enter moves on, Backspace deletes."""
        login = self._flow()
        if login is None:
            return False
        if key in (13, 271):  # Enter, keypad Enter
            login.next_field()
        elif key == 8:
            login.backspace()
        elif key == 9:  # Tab
            login.focus(Field.PASSWORD if login.state.focus is Field.STAFF_NO else Field.STAFF_NO)
        elif text:
            login.type(text)
        else:
            return False
        return True



load_kv(__file__)
