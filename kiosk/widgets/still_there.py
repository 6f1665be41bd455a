"""The "are you still there?" prompt: covers whatever screen shows and takes every touch."""

from __future__ import annotations

from typing import Any

from kivy.properties import StringProperty
from kivy.uix.floatlayout import FloatLayout

from kiosk.widgets import common  # noqa: F401  (registers KioskButton / KioskLabel / Panel)
from kiosk.widgets.style import load_kv


class StillTherePrompt(FloatLayout):
    """Its Continue button is ``still_there_continue``; touches never reach the screen below."""

    title = StringProperty("")
    body = StringProperty("")
    continue_text = StringProperty("")
    __events__ = ("on_continue",)

    def on_continue(self) -> None:
        pass

    def on_touch_down(self, touch: Any) -> bool:
        super().on_touch_down(touch)
        return True  # the screen below is covered

    def on_touch_move(self, touch: Any) -> bool:
        super().on_touch_move(touch)
        return True

    def on_touch_up(self, touch: Any) -> bool:
        super().on_touch_up(touch)
        return True


load_kv(__file__)
