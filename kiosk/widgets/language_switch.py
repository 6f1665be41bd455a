"""Three buttons, each language in its own name: ``lang_zh_CN``, ``lang_zh_TW``, ``lang_en``."""

from __future__ import annotations

from typing import Any

from kivy.properties import StringProperty
from kivy.uix.boxlayout import BoxLayout

from kiosk.i18n import DEFAULT_LANGUAGE, LANGUAGE_NAMES
from kiosk.widgets import common  # noqa: F401  (registers KioskButton)
from kiosk.widgets.style import load_kv


class LanguageSwitch(BoxLayout):
    current = StringProperty(DEFAULT_LANGUAGE)
    names = LANGUAGE_NAMES
    __events__ = ("on_language",)

    def choose(self, language: str, *_args: Any) -> None:
        self.dispatch("on_language", language)

    def on_language(self, language: str) -> None:
        pass


load_kv(__file__)
