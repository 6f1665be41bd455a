"""Drive the running kiosk app as a person would: real touches, the real event loop.

Used by the UI tests and by the headless demo.  Call it on Kivy's main thread after
:meth:`KioskApp.start_headless` (or from a Clock callback of a running app); every method
pumps Kivy's event loop itself, so Clock events, flow ticks and redraws all happen.

Screens are named ``home`` and ``<journey>.<step>`` (``pickup.review``).
Widgets are found by name: a kv ``id`` (``collect_button``, ``key_7``, ``submit``, ``confirm``,
``nav_back``, ``nav_cancel``, ``lang_en``, ``still_there_continue`` ...) or a widget's
``driver_id`` (``ticket_<ticket id>`` on the review screen).  Only what is on screen counts.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

from kiosk.kivy_setup import prepare_kivy

prepare_kivy()  # before the first Kivy import, as kiosk.app does

from kivy.base import EventLoop  # noqa: E402
from kivy.core.window import Window  # noqa: E402
from kivy.tests.common import UnitTestTouch  # noqa: E402
from kivy.uix.widget import Widget  # noqa: E402

from kiosk.app import KioskApp  # noqa: E402
from kiosk.host import HOME  # noqa: E402
from kiosk.widgets.finding import is_shown, visible_widgets, widget_name_at  # noqa: E402


class UiDriverError(AssertionError):
    """The screen is not as the script expected (a widget missing, a wait that never came true)."""


class UiDriver:
    def __init__(self, app: KioskApp) -> None:
        self.app = app

    # -- looking -----------------------------------------------------------------------------

    @property
    def current_screen_name(self) -> str:
        root = self.app.kiosk_root
        if root is None:
            raise UiDriverError("the app is not started")
        return str(root.ids.screens.current)

    def find(self, widget_id: str) -> Widget:
        """The visible widget with this kv id or driver id."""
        for widget in visible_widgets(Window):
            if getattr(widget, "driver_id", None) == widget_id:
                return widget
            ids = getattr(widget, "ids", None)
            found = ids.get(widget_id) if ids else None
            if found is not None and is_shown(found):
                return found
        raise UiDriverError(f"no widget {widget_id!r} on the {self.current_screen_name!r} screen")

    def text_of(self, widget_id: str) -> str:
        return str(getattr(self.find(widget_id), "text", ""))

    def is_enabled(self, widget_id: str) -> bool:
        widget = self.find(widget_id)
        return not widget.disabled

    def visible_texts(self) -> list[str]:
        """Every non-empty text on screen, top to bottom as the tree goes."""
        return [w.text for w in visible_widgets(Window) if isinstance(getattr(w, "text", None), str) and w.text]

    # -- acting ------------------------------------------------------------------------------

    def tap(self, widget_id: str) -> None:
        """A real touch down and up at the widget's centre, through the window's input dispatch."""
        self.pump()
        widget = self.find(widget_id)
        x, y = widget.to_window(*widget.center)
        touch = UnitTestTouch(x, y)
        touch.touch_down()
        self.pump()
        touch.touch_up()
        self.pump()

    def type_digits(self, digits: str) -> None:
        for digit in digits:
            if not digit.isdigit():
                raise UiDriverError(f"the keypad has no key {digit!r}")
            self.tap(f"key_{digit}")

    def pump(self, frames: int = 2) -> None:
        """Let Kivy run a few frames: input, Clock events, layout, drawing."""
        for _ in range(frames):
            EventLoop.idle()

    def wait_for(self, condition: str | Callable[[], bool], timeout_s: float = 5.0) -> None:
        """Pump the event loop until the screen shows (``home``, ``pickup.review``), or ``condition()`` holds."""
        if isinstance(condition, str):
            name = condition
            check: Callable[[], bool] = lambda: self.current_screen_name == name  # noqa: E731
            what = f"the {name!r} screen"
        else:
            check = condition
            what = getattr(condition, "__name__", "the condition")
        deadline = time.monotonic() + timeout_s
        while True:
            self.pump(1)
            if check():
                self.pump(1)  # one more frame so what is drawn matches
                return
            if time.monotonic() >= deadline:
                raise UiDriverError(f"{what} did not come within {timeout_s} s (showing {self.current_screen_name!r})")
            time.sleep(0.01)

    # -- pictures ----------------------------------------------------------------------------

    def screenshot(self, path: str | os.PathLike[str]) -> Path:
        """Save what the window shows, as PNG, at exactly ``path``.

        The kiosk's root widget is drawn into an offscreen buffer of the window's size (its own
        background is opaque, the "still there?" prompt is one of its children).  Unlike
        ``Window.screenshot`` this writes the exact file name and follows a resized window even
        where the offscreen GL surface cannot grow.
        """
        root = self.app.kiosk_root
        if root is None:
            raise UiDriverError("the app is not started")
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        self.pump()
        if not root.export_to_png(str(target)) and not target.is_file():
            raise UiDriverError(f"the screen could not be saved to {target}")
        return target


__all__ = ["HOME", "UiDriver", "UiDriverError", "widget_name_at"]
