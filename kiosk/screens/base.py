"""What every screen shares: the host it reads from and forwards touches to."""

from __future__ import annotations

from typing import Any, Protocol

from kivy.properties import ObjectProperty
from kivy.uix.screenmanager import Screen

from kiosk.availability import Availability
from kiosk.host import KioskHost
from kiosk.i18n import Translator


class ScreenHost(Protocol):
    """The app, as a screen sees it: the kiosk's host (journeys) and what to show."""

    @property
    def kiosk(self) -> KioskHost: ...

    @property
    def translator(self) -> Translator: ...

    @property
    def availability_now(self) -> Availability: ...

    def set_language(self, language: str) -> None: ...


class KioskScreen(Screen):
    """A screen shows a state (a journey's, or the home screen's) and forwards touches; it decides nothing."""

    host = ObjectProperty(None)

    def refresh(self, state: Any, tr: Translator, availability: Availability) -> None:
        """Show ``state`` in the current language (called on every change, and on a language switch)."""
        raise NotImplementedError

    def on_shown(self) -> None:
        """The screen became the current one (start animations)."""

    def on_hidden(self) -> None:
        """The screen stopped being the current one (stop animations)."""
