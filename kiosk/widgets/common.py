"""Building blocks every screen uses: a big flat button, a wrapping label, a panel."""

from __future__ import annotations

from kivy.properties import NumericProperty, OptionProperty
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.button import Button
from kivy.uix.label import Label

from kiosk.widgets.style import load_kv


class KioskButton(Button):
    """A touch target sized for a standing adult; ``role`` picks its colour."""

    role = OptionProperty("secondary", options=["primary", "secondary", "selected"])
    font_pt = NumericProperty(30)


class KioskLabel(Label):
    """A label that wraps to its width and grows to its text's height."""

    font_pt = NumericProperty(26)


class Panel(BoxLayout):
    pass


load_kv(__file__)
