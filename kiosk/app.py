"""The kiosk's Kivy application: shows the host's screen (home, or the active journey's) and
forwards touches to it.

The app is built from a :class:`~kiosk.host.KioskHost` and an availability callable only; the
runtime (``kiosk.runner``) wires devices and the central into the journeys, and may build their
:class:`~kiosk.flows.runtime.ThreadWorker` with :meth:`KioskApp.post_to_main`.

``app.run()`` runs the kiosk.  Tests and headless demos call :meth:`KioskApp.start_headless`
instead, drive it with :class:`kiosk.ui_driver.UiDriver`, and end with :meth:`stop_headless`;
the window stays, so the next app of the same process can use it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

from kiosk.kivy_setup import prepare_kivy, register_cjk_font

prepare_kivy()  # before the first Kivy import

from kivy.app import App  # noqa: E402
from kivy.base import EventLoop, runTouchApp  # noqa: E402
from kivy.clock import Clock, ClockEvent  # noqa: E402
from kivy.core.window import Window  # noqa: E402
from kivy.properties import StringProperty  # noqa: E402

from devices.card_api import CardEvent  # noqa: E402
from kiosk.availability import Availability  # noqa: E402
from kiosk.claims import ClaimPrinter  # noqa: E402
from kiosk.config import KioskConfig  # noqa: E402
from kiosk.flows.counter import CardSide, CounterCentral, CounterFlow  # noqa: E402
from kiosk.flows.runtime import ThreadWorker  # noqa: E402
from kiosk.host import HOME, KioskHost  # noqa: E402
from kiosk.i18n import DEFAULT_LANGUAGE, LANGUAGES, Translator  # noqa: E402
from kiosk.journal import Journal  # noqa: E402
from kiosk.observers import Observers  # noqa: E402
from kiosk.screens.counter.app import CounterApp  # noqa: E402
from kiosk.screens.registry import JOURNEY_SCREENS  # noqa: E402
from kiosk.screens.root import KioskRoot  # noqa: E402
from kiosk.widgets import style  # noqa: E402
from kiosk.widgets.finding import widget_name_at  # noqa: E402

log = logging.getLogger(__name__)

TICK_INTERVAL_S = 1.0
HOME_LANGUAGE_RESET_S = 60.0  # a language chosen at home, then left alone this long, goes back to the kiosk's

# Told of what the person did and saw (a recorder, the dev panel, tests): ("tap", {"widget", "pos",
# "screen"}), ("key", {"key", "codepoint", "screen"}), ("screen", {"screen", "detail"}), ("timer", {"name"}).
AppObserver = Callable[[str, dict[str, Any]], None]


class KioskApp(App):
    language = StringProperty(DEFAULT_LANGUAGE)

    def __init__(
        self,
        host: KioskHost,
        availability: Callable[[], Availability],
        language: str = DEFAULT_LANGUAGE,
        on_start_hooks: Sequence[Callable[[KioskApp], None]] = (),
        *,
        timezone: str = "Asia/Shanghai",
        self_ticking: bool = True,
        **kwargs: Any,
    ) -> None:
        """``self_ticking=False``: the host calls :meth:`tick` (a replay, from its timeline)."""
        super().__init__(**kwargs)
        self.title = "Ticket kiosk"
        self._host = host
        self._availability_source = availability
        self._availability = self._read_availability(Availability())
        self._on_start_hooks = tuple(on_start_hooks)
        self._translator = Translator(language if language in LANGUAGES else DEFAULT_LANGUAGE, timezone)
        self._tick_event: ClockEvent | None = None
        self._main_thread = threading.current_thread()
        self._active = False
        self.kiosk_root: KioskRoot | None = None
        self.language = self._translator.language
        self._default_language = self._translator.language
        self._last_touch = host.now()
        self._self_ticking = self_ticking
        self.observers: Observers[[str, dict[str, Any]]] = Observers("app observer")
        self._shown: tuple[str, dict[str, Any]] | None = None
        host.subscribe(self._on_state)
        host.session_ended.subscribe(self._reset_language)

    # -- what screens read (ScreenHost) -----------------------------------------------------

    @property
    def kiosk(self) -> KioskHost:
        return self._host

    @property
    def translator(self) -> Translator:
        return self._translator

    @property
    def availability_now(self) -> Availability:
        return self._availability

    def set_language(self, language: str) -> None:
        if language in LANGUAGES:
            self.language = language

    def _reset_language(self, _journey: str) -> None:
        """The next person starts in the kiosk's own language, whatever the last one chose."""
        self.language = self._default_language

    def on_language(self, _app: Any, language: str) -> None:
        self._translator.language = language
        self.refresh()

    # -- Kivy App ---------------------------------------------------------------------------

    def load_kv(self, filename: str | None = None) -> bool:
        return False  # each screen and widget loads its own .kv once (kiosk.widgets.style.load_kv)

    def build(self) -> KioskRoot:
        register_cjk_font()
        Window.clearcolor = style.BACKGROUND
        self.kiosk_root = KioskRoot(host=self)
        return self.kiosk_root

    def on_start(self) -> None:
        self._active = True
        if self._self_ticking:
            self._tick_event = Clock.schedule_interval(self._tick, TICK_INTERVAL_S)
        Window.bind(on_touch_down=self._observe_touch, on_key_down=self._observe_key)
        self.refresh()
        for hook in self._on_start_hooks:
            hook(self)

    def on_stop(self) -> None:
        self._active = False
        Window.unbind(on_touch_down=self._observe_touch, on_key_down=self._observe_key)
        if self._tick_event is not None:
            self._tick_event.cancel()
            self._tick_event = None

    # -- host services ----------------------------------------------------------------------

    def post_to_main(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` on Kivy's main loop at its next frame (safe from any thread)."""
        Clock.schedule_once(lambda _dt: callback(), 0)

    def refresh(self) -> None:
        """Show the host's screen and state, in the current language."""
        if self.kiosk_root is not None and self._active:
            self.kiosk_root.show(self._translator, self._availability)
            self._observe_screen()

    def start_headless(self) -> None:
        """Build and show the app without entering Kivy's blocking loop (tests, scripted demos)."""
        self._run_prepare()
        if EventLoop.status != "started":
            runTouchApp(embedded=True)
        EventLoop.idle()

    def stop_headless(self) -> None:
        """Take this app off the window, keeping the window for the next app of the process."""
        if self._active:
            self.dispatch("on_stop")
        if self.root is not None and self.root.parent is not None:
            self.root.parent.remove_widget(self.root)
        if App._running_app is self:
            App._running_app = None

    # -- flow events and time ---------------------------------------------------------------

    def _on_state(self) -> None:
        if threading.current_thread() is not self._main_thread:
            self.post_to_main(self.refresh)  # widgets are only touched on the main loop
            return
        self.refresh()

    def tick(self) -> None:
        """One tick of the kiosk's one-second timer (the host's own, when not self-ticking)."""
        self._tick(0.0)

    def _tick(self, _dt: float) -> None:
        self._notify("timer", name="tick")
        before = self._availability
        availability = self._read_availability(before)
        changed = availability != before
        self._availability = availability
        if changed:
            self._host.availability_changed(before, availability)
        self._host.tick()
        if self._host.active is None and self.language != self._default_language and \
                self._host.now() - self._last_touch >= HOME_LANGUAGE_RESET_S:
            self._reset_language(HOME)  # someone chose a language at home and walked away
        if changed:
            self.refresh()

    # -- observation (recording) ------------------------------------------------------------

    @property
    def shown(self) -> tuple[str, dict[str, Any]] | None:
        """The screen on show and what matters on it (see :func:`screen_detail`)."""
        return self._shown

    def _observe_screen(self) -> None:
        assert self.kiosk_root is not None
        shown = (str(self.kiosk_root.ids.screens.current), screen_detail(self._host, self._availability))
        if shown != self._shown:
            self._shown = shown
            self._notify("screen", screen=shown[0], detail=shown[1])

    def _observe_touch(self, window: Any, touch: Any) -> None:
        self._last_touch = self._host.now()
        if not self.observers:
            return
        width, height = window.size
        self._notify("tap", widget=widget_name_at(touch.pos), pos=[round(touch.x / width, 4),
                                                                  round(touch.y / height, 4)],
                     screen=self._shown[0] if self._shown else None)

    def _observe_key(self, _window: Any, key: int, _scancode: int, codepoint: str | None, _modifiers: Any) -> None:
        self._notify("key", key=key, codepoint=codepoint, screen=self._shown[0] if self._shown else None)

    def _notify(self, kind: str, **data: Any) -> None:
        self.observers.notify(kind, data)  # an observer's fault is logged, never reaches the screen

    def _read_availability(self, previous: Availability) -> Availability:
        try:
            return self._availability_source()
        except Exception:  # a broken health probe must not take the screen down with it
            log.exception("availability check failed; showing the last known state")
            return previous


def screen_detail(host: KioskHost, availability: Availability) -> dict[str, Any]:
    """What a technician compares on a screen besides its name: why, how many, which problem."""
    journey = host.active
    if journey is None:
        return {"in_service": availability.can_pick_up}
    detail = JOURNEY_SCREENS[journey.name].detail(journey.state)
    if journey.state.still_there:
        detail["still_there"] = True
    return detail




def counter_app(
    config: KioskConfig,
    central: CounterCentral,
    terminal: CardSide,
    journal: Journal,
    *,
    now: Callable[[], float],
    language: str | None = None,
    claim_printer: ClaimPrinter | None = None,
) -> CounterApp:
    """kiosk.mode = "counter": the same app at the sales counter, behind a staff login.

    No lobby journey and no patron screen: only the staff login and the counter's screens.  The
    flow's slow work (card and central) runs on one worker thread that posts back to Kivy's loop.
    """
    apps: list[CounterApp] = []
    # The worker posts back through the app, which needs the flow first: look the app up late.
    worker = ThreadWorker(lambda callback: apps[0].post_to_main(callback), name="counter-worker")
    flow = CounterFlow(central, terminal, worker, now=now, idle_logout_s=config.counter.idle_logout_s,
                       max_concession_visits=config.counter.max_concession_visits, journal=journal,
                       claim_printer=claim_printer if config.counter.tickets else None,
                       timezone=config.kiosk.cinema_timezone)
    app = CounterApp(flow, language or config.kiosk.language, timezone=config.kiosk.cinema_timezone)
    apps.append(app)
    app.worker = worker
    return app



def run_counter(config: KioskConfig, stop_on_signals: Callable[[Any], Callable[[], None]]) -> int:
    """`kiosk run` with kiosk.mode = "counter": the kiosk's services (central, journal, the card
    reader and the PSAM), the counter's app, until the window closes.

    ``stop_on_signals(app)`` (the runner's) makes Ctrl+C and SIGTERM close the app; it returns the undo.
    """
    from kiosk.services import KioskServices, StartupError

    services = KioskServices(config)
    try:
        if services.year_cards is None or services.card_reader is None:
            raise StartupError("kiosk.mode = \"counter\" needs a card reader (card.reader) and the PSAM "
                               "(card.psam_reader_name_pattern, or card.sim_psam_image with the simulator)")
        app = counter_app(config, services.client, services.year_cards, services.journal,
                          now=services.clock.monotonic, claim_printer=services.claim_printer)

        def on_card(event: CardEvent) -> None:  # from the reader's thread, to Kivy's loop
            def deliver() -> None:
                app.flow.handle_card(event)

            app.post_to_main(deliver)

        services.start(lambda _code: None, on_card)
        restore = stop_on_signals(app)
        try:
            app.run()
        finally:
            restore()
            if app.worker is not None:
                app.worker.stop()
    finally:
        services.stop()
    return 0


__all__ = ["HOME", "AppObserver", "CounterApp", "KioskApp", "counter_app", "run_counter", "screen_detail"]
