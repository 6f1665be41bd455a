"""The counter's window content: top bar (staff member, logout, language), then the login or the
counter's screens.  Screens are ``staff_login`` and ``counter.<step>``."""

from __future__ import annotations

from typing import Any

from kivy.uix.boxlayout import BoxLayout
from kivy.uix.screenmanager import NoTransition

from backend_client.wire import StaffRole
from kiosk.flows.counter import CounterFlow, Step
from kiosk.i18n import Translator
from kiosk.screens.counter.base import CounterScreen
from kiosk.screens.counter.blacklist import BlacklistScreen
from kiosk.screens.counter.busy import BusyScreen
from kiosk.screens.counter.card import CounterCardScreen
from kiosk.screens.counter.card_back import CardBackScreen
from kiosk.screens.counter.concessions import ConcessionsScreen
from kiosk.screens.counter.refused import CounterRefusedScreen
from kiosk.screens.counter.tickets import TicketsScreen
from kiosk.screens.counter.waiting import WaitingScreen
from kiosk.screens.staff.login import StaffLoginScreen
from kiosk.widgets import language_switch  # noqa: F401  (registers LanguageSwitch)
from kiosk.widgets.style import load_kv

LOGIN_SCREEN = "staff_login"
SCREENS: dict[Step, type[CounterScreen]] = {
    Step.WAITING: WaitingScreen,
    Step.READING: BusyScreen,
    Step.CARD: CounterCardScreen,
    Step.CONCESSIONS: ConcessionsScreen,
    Step.TICKETS: TicketsScreen,
    Step.BLACKLIST: BlacklistScreen,
    Step.WORKING: BusyScreen,
    Step.CARD_BACK: CardBackScreen,
    Step.REFUSED: CounterRefusedScreen,
}


ROLE_TEXTS = {
    StaffRole.ADMIN: "staff.role.admin",
    StaffRole.STATISTICIAN: "staff.role.statistician",
    StaffRole.OPERATOR: "staff.role.operator",
    StaffRole.MANAGER: "staff.role.manager",
    StaffRole.LOCAL_STATISTICIAN: "staff.role.local_statistician",
    StaffRole.CUSTOMER_QUERY: "staff.role.customer_query",
    StaffRole.SALES: "staff.role.sales",
}


def screen_name(step: Step) -> str:
    return LOGIN_SCREEN if step is Step.LOGIN else "counter." + step.value  # a screen name, not a text key


class CounterRoot(BoxLayout):
    def __init__(self, flow: CounterFlow, app: Any, **kwargs: Any) -> None:
        self.flow = flow
        self.app = app
        super().__init__(**kwargs)
        manager = self.ids.screens
        manager.transition = NoTransition()
        manager.add_widget(StaffLoginScreen(name=LOGIN_SCREEN, login=flow.login))
        for step, screen_class in SCREENS.items():
            manager.add_widget(screen_class(name=screen_name(step), flow=flow))

    def show(self, tr: Translator) -> None:
        flow = self.flow
        state = flow.state
        manager = self.ids.screens
        name = screen_name(state.step)
        if manager.current != name:
            manager.current = name
        screen = manager.current_screen
        if isinstance(screen, StaffLoginScreen):
            screen.show(flow.login.state, tr)
        else:
            screen.show(state, tr)
        ids = self.ids
        ids.app_title.text = tr.text("counter.app.title")
        logged_in = state.step is not Step.LOGIN
        ids.staff.text = tr.text("counter.staff", name=state.staff_name, staff_no=state.staff_no,
                                 role=tr.text(ROLE_TEXTS[state.role])) \
            if logged_in and state.role is not None else ""
        ids.logout.text = tr.text("counter.logout")
        ids.logout.disabled = not logged_in or state.step in (Step.READING, Step.WORKING)
        ids.logout.opacity = 1 if logged_in else 0
        ids.language_switch.current = tr.language


load_kv(__file__)
