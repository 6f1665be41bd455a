"""The kiosk's window content: top bar (title, language), the screens, Back/Cancel, the prompt."""

from __future__ import annotations

from kivy.uix.floatlayout import FloatLayout
from kivy.uix.screenmanager import NoTransition

from kiosk.availability import Availability
from kiosk.flows.pickup import PickupState, Step
from kiosk.i18n import Translator
from kiosk.screens.base import KioskScreen, ScreenHost
from kiosk.screens.done import DoneScreen
from kiosk.screens.enter_code import EnterCodeScreen
from kiosk.screens.idle import IdleScreen
from kiosk.screens.looking_up import LookingUpScreen
from kiosk.screens.printing import PrintingScreen
from kiosk.screens.refused import RefusedScreen
from kiosk.screens.review import ReviewScreen
from kiosk.widgets import language_switch, nav_bar  # noqa: F401  (registers LanguageSwitch and NavBar)
from kiosk.widgets.still_there import StillTherePrompt
from kiosk.widgets.style import load_kv

SCREEN_OF_STEP: dict[Step, type[KioskScreen]] = {
    Step.IDLE: IdleScreen,
    Step.ENTER_CODE: EnterCodeScreen,
    Step.LOOKING_UP: LookingUpScreen,
    Step.REVIEW: ReviewScreen,
    Step.PRINTING: PrintingScreen,
    Step.DONE: DoneScreen,
    Step.REFUSED: RefusedScreen,
}


class KioskRoot(FloatLayout):
    """Screens are named after the flow's steps (``Step.value``)."""

    def __init__(self, host: ScreenHost, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.host = host
        manager = self.ids.screens
        manager.transition = NoTransition()  # a lobby screen changes at once: no half-drawn frames
        for step, screen_class in SCREEN_OF_STEP.items():
            manager.add_widget(screen_class(name=step.value, host=host))
        self.prompt = StillTherePrompt()
        self.prompt.bind(on_continue=lambda *_: host.flow.keep_going())
        self.ids.nav_bar.bind(on_back=lambda *_: host.flow.back(), on_cancel=lambda *_: host.flow.cancel())

    @property
    def current_screen(self) -> KioskScreen:
        screen: KioskScreen = self.ids.screens.current_screen
        return screen

    def show(self, state: PickupState, tr: Translator, availability: Availability) -> None:
        """Bring the step's screen forward and show ``state`` everywhere in the current language."""
        manager = self.ids.screens
        if manager.current != state.step.value:
            previous = self.current_screen
            manager.current = state.step.value
            previous.on_hidden()
            self.current_screen.on_shown()
        self.current_screen.refresh(state, tr, availability)
        self.ids.app_title.text = tr.text("app.title")
        self.ids.language_switch.current = tr.language
        self._show_nav(state, tr)
        self._show_prompt(state, tr)

    def _show_nav(self, state: PickupState, tr: Translator) -> None:
        nav = self.ids.nav_bar
        journey = state.step is not Step.IDLE
        nav.opacity = 1 if journey else 0
        nav.disabled = not journey
        nav.back_text = tr.text("nav.back")
        nav.back_enabled = state.step is not Step.PRINTING  # a running job is never abandoned
        if state.step is Step.PRINTING:
            nav.cancel_text = tr.text("print.stopping" if state.stop_requested else "print.stop")
            nav.ids.nav_cancel.disabled = state.stop_requested
        else:
            nav.cancel_text = tr.text("nav.cancel")
            nav.ids.nav_cancel.disabled = False

    def _show_prompt(self, state: PickupState, tr: Translator) -> None:
        prompt = self.prompt
        prompt.title = tr.text("still_there.title")
        prompt.body = tr.text("still_there.body")
        prompt.continue_text = tr.text("still_there.continue")
        if state.still_there and prompt.parent is None:
            self.add_widget(prompt)
        elif not state.still_there and prompt.parent is not None:
            self.remove_widget(prompt)


load_kv(__file__)
