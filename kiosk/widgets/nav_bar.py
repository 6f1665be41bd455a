"""Back and Cancel, on every step of a journey (the flow decides what they do)."""

from __future__ import annotations

from kivy.properties import BooleanProperty, StringProperty
from kivy.uix.boxlayout import BoxLayout

from kiosk.widgets import common  # noqa: F401  (registers KioskButton)
from kiosk.widgets.style import load_kv


class NavBar(BoxLayout):
    """Buttons ``nav_back`` and ``nav_cancel``."""

    back_text = StringProperty("")
    cancel_text = StringProperty("")
    back_enabled = BooleanProperty(True)
    __events__ = ("on_back", "on_cancel")

    def on_back(self) -> None:
        pass

    def on_cancel(self) -> None:
        pass


load_kv(__file__)
