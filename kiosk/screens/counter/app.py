"""The counter's Kivy application (kiosk.mode = "counter"): the staff login, then the counter.

Built by :func:`kiosk.app.counter_app`.  It ticks the flow once a second (the idle logout), keeps
the session alive on every touch and key, and sends a hardware keyboard's keys to the login.
Tests and headless runs use :meth:`start_headless` / :meth:`stop_headless` like the lobby app, and
drive it with :class:`kiosk.ui_driver.UiDriver`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from kivy.app import App
from kivy.base import EventLoop, runTouchApp
from kivy.clock import Clock, ClockEvent
from kivy.core.window import Window
from kivy.properties import StringProperty

from kiosk.flows.counter import CounterFlow, Step
from kiosk.flows.runtime import ThreadWorker
from kiosk.i18n import DEFAULT_LANGUAGE, LANGUAGES, Translator
from kiosk.kivy_setup import register_cjk_font
from kiosk.screens.counter.root import CounterRoot
from kiosk.screens.staff.login import StaffLoginScreen
from kiosk.widgets import style

TICK_INTERVAL_S = 1.0


class CounterApp(App):
    language = StringProperty(DEFAULT_LANGUAGE)

    def __init__(self, flow: CounterFlow, language: str = DEFAULT_LANGUAGE, *, timezone: str = "Asia/Shanghai",
                 self_ticking: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.title = "Ticket counter"
        self.flow = flow
        self._translator = Translator(language if language in LANGUAGES else DEFAULT_LANGUAGE, timezone)
        self.kiosk_root: CounterRoot | None = None
        self._active = False
        self.language = self._translator.language
        self._tick_event: ClockEvent | None = None
        self._self_ticking = self_ticking
        self._main_thread = threading.current_thread()
        self.worker: ThreadWorker | None = None  # stopped with the app (kiosk.app.counter_app sets it)
        flow.subscribe(lambda _state: self._on_state())

    @property
    def translator(self) -> Translator:
        return self._translator

    def set_language(self, language: str) -> None:
        if language in LANGUAGES:
            self.language = language

    def on_language(self, _app: Any, language: str) -> None:
        self._translator.language = language
        self.refresh()

    def load_kv(self, filename: str | None = None) -> bool:
        return False

    def build(self) -> CounterRoot:
        register_cjk_font()
        Window.clearcolor = style.BACKGROUND
        self.kiosk_root = CounterRoot(self.flow, self)
        return self.kiosk_root

    def on_start(self) -> None:
        self._active = True
        if self._self_ticking:
            self._tick_event = Clock.schedule_interval(lambda _dt: self.flow.tick(), TICK_INTERVAL_S)
        Window.bind(on_touch_down=self._on_touch, on_key_down=self._on_key)
        self.refresh()

    def on_stop(self) -> None:
        self._active = False
        if self.flow.login.session is not None:
            self.flow.logout()  # the session does not outlive the app
        Window.unbind(on_touch_down=self._on_touch, on_key_down=self._on_key)
        if self._tick_event is not None:
            self._tick_event.cancel()
            self._tick_event = None

    def post_to_main(self, callback: Callable[[], None]) -> None:
        Clock.schedule_once(lambda _dt: callback(), 0)

    def refresh(self) -> None:
        if self.kiosk_root is not None and self._active:
            self.kiosk_root.show(self._translator)

    def _on_state(self) -> None:
        if threading.current_thread() is not self._main_thread:
            self.post_to_main(self.refresh)
            return
        self.refresh()

    def _on_touch(self, _window: Any, _touch: Any) -> None:
        self.flow.touch()

    def _on_key(self, _window: Any, key: int, _scancode: int, codepoint: str | None, _modifiers: Any) -> bool:
        self.flow.touch()
        root = self.kiosk_root
        if root is None or self.flow.step is not Step.LOGIN:
            return False
        screen = root.ids.screens.current_screen
        return isinstance(screen, StaffLoginScreen) and screen.keyboard(codepoint, key)

    def start_headless(self) -> None:
        self._run_prepare()
        if EventLoop.status != "started":
            runTouchApp(embedded=True)
        EventLoop.idle()

    def stop_headless(self) -> None:
        if self._active:
            self.dispatch("on_stop")
        if self.root is not None and self.root.parent is not None:
            self.root.parent.remove_widget(self.root)
        if App._running_app is self:
            App._running_app = None
