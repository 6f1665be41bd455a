"""What every screen shares: the host it reads from and forwards touches to."""

from __future__ import annotations

from typing import Protocol

from kivy.properties import ObjectProperty
from kivy.uix.screenmanager import Screen

from kiosk.availability import Availability
from kiosk.flows.pickup import PickupFlow, PickupState
from kiosk.i18n import Translator


class ScreenHost(Protocol):
    """The app, as a screen sees it: the flow to forward touches to and what to show."""

    @property
    def flow(self) -> PickupFlow: ...

    @property
    def translator(self) -> Translator: ...

    @property
    def availability_now(self) -> Availability: ...

    def set_language(self, language: str) -> None: ...


class KioskScreen(Screen):
    """A screen shows the flow's state and forwards touches; it decides nothing itself."""

    host = ObjectProperty(None)

    def refresh(self, state: PickupState, tr: Translator, availability: Availability) -> None:
        """Show ``state`` in the current language (called on every change, and on a language switch)."""
        raise NotImplementedError

    def on_shown(self) -> None:
        """The screen became the current one (start animations)."""

    def on_hidden(self) -> None:
        """The screen stopped being the current one (stop animations)."""
