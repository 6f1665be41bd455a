"""The kiosk's window content: top bar (title, language), the screens, Back/Cancel, the prompt.

The screens are the home screen and, for every journey the host has, that journey's screens
(:mod:`kiosk.screens.registry`), named ``<journey>.<step>``.
"""

from __future__ import annotations

from typing import Any

from kivy.properties import NumericProperty
from kivy.uix.floatlayout import FloatLayout
from kivy.uix.screenmanager import NoTransition

from kiosk.availability import Availability
from kiosk.flows.journey import Journey
from kiosk.host import HOME
from kiosk.i18n import Translator
from kiosk.screens.base import KioskScreen, ScreenHost
from kiosk.screens.home.home import HomeScreen
from kiosk.screens.registry import JOURNEY_SCREENS, screen_name
from kiosk.widgets import language_switch, nav_bar  # noqa: F401  (registers LanguageSwitch and NavBar)
from kiosk.widgets.still_there import StillTherePrompt
from kiosk.widgets.style import load_kv


class KioskRoot(FloatLayout):
    reserved_right = NumericProperty(0.0)  # the window's width a side panel takes (dev mode), as a fraction

    def __init__(self, host: ScreenHost, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.host = host
        manager = self.ids.screens
        manager.transition = NoTransition()  # a lobby screen changes at once: no half-drawn frames
        manager.add_widget(HomeScreen(name=HOME, host=host))
        for journey in host.kiosk.journeys:
            for step, screen_class in JOURNEY_SCREENS[journey].screens.items():
                manager.add_widget(screen_class(name=screen_name(journey, step), host=host))
        self.prompt = StillTherePrompt()
        self.prompt.bind(on_continue=lambda *_: self._active_do("keep_going"))
        self.ids.nav_bar.bind(on_back=lambda *_: self._active_do("back"),
                              on_cancel=lambda *_: self._active_do("cancel"))

    def _active_do(self, action: str) -> None:
        journey = self.host.kiosk.active
        if journey is not None:
            getattr(journey, action)()

    @property
    def current_screen(self) -> KioskScreen:
        screen: KioskScreen = self.ids.screens.current_screen
        return screen

    def show(self, tr: Translator, availability: Availability) -> None:
        """Bring the host's screen forward and show its state everywhere in the current language."""
        kiosk = self.host.kiosk
        manager = self.ids.screens
        name = kiosk.screen
        if manager.current != name:
            previous = self.current_screen
            manager.current = name
            previous.on_hidden()
            self.current_screen.on_shown()
        active = kiosk.active
        self.current_screen.refresh(active.state if active is not None else kiosk.home, tr, availability)
        self.ids.app_title.text = tr.text("app.title")
        self.ids.language_switch.current = tr.language
        self._show_nav(active, tr)
        self._show_prompt(active is not None and bool(active.state.still_there), tr)

    def _show_nav(self, journey: Journey[Any] | None, tr: Translator) -> None:
        nav = self.ids.nav_bar
        nav.opacity = 1 if journey is not None else 0
        nav.disabled = journey is None
        view = journey.nav if journey is not None else None
        nav.back_text = tr.text("nav.back")
        nav.back_enabled = view.back_enabled if view is not None else False
        nav.cancel_text = tr.text(view.cancel_key if view is not None else "nav.cancel")
        nav.ids.nav_cancel.disabled = not view.cancel_enabled if view is not None else False

    def _show_prompt(self, still_there: bool, tr: Translator) -> None:
        prompt = self.prompt
        prompt.title = tr.text("still_there.title")
        prompt.body = tr.text("still_there.body")
        prompt.continue_text = tr.text("still_there.continue")
        if still_there and prompt.parent is None:
            self.add_widget(prompt)
        elif not still_there and prompt.parent is not None:
            self.remove_widget(prompt)


load_kv(__file__)
