"""Look and size of the kiosk: colours, a window-relative scale, and the .kv loader.

Layouts are drawn for 1280x800; :data:`metrics` follows the window so the same rules fill a
1920x1080 landscape or a 1080x1920 portrait lobby screen with proportionally large targets.
"""

from __future__ import annotations

from pathlib import Path

from kivy.core.window import Window
from kivy.event import EventDispatcher
from kivy.lang import Builder
from kivy.properties import BooleanProperty, NumericProperty

from kiosk.kivy_setup import DESIGN_SIZE

BACKGROUND = (0.07, 0.09, 0.14, 1)
PANEL = (0.13, 0.16, 0.23, 1)
PRIMARY = (0.95, 0.55, 0.12, 1)
SECONDARY = (0.25, 0.30, 0.40, 1)
SELECTED = (0.18, 0.55, 0.34, 1)
DISABLED = (0.20, 0.22, 0.27, 1)
TEXT = (1, 1, 1, 1)
MUTED_TEXT = (0.70, 0.74, 0.80, 1)
PROBLEM_TEXT = (1.0, 0.45, 0.40, 1)
GOOD_TEXT = (0.45, 0.90, 0.55, 1)


class Metrics(EventDispatcher):
    """``scale`` is 1.0 at 1280x800 (or 800x1280) and follows the window; kv rules multiply by it.

    ``portrait`` lets a screen stack side-by-side halves (code fields / keypad) on a tall screen.
    """

    scale = NumericProperty(1.0)
    portrait = BooleanProperty(False)

    def __init__(self) -> None:
        super().__init__()
        Window.bind(size=self._follow)
        self._follow(Window, Window.size)

    def _follow(self, _window: object, size: tuple[int, int]) -> None:
        width, height = size
        long_side, short_side = max(width, height), min(width, height)
        self.scale = max(0.5, min(long_side / DESIGN_SIZE[0], short_side / DESIGN_SIZE[1]))
        self.portrait = height > width


metrics = Metrics()


def load_kv(module_file: str) -> None:
    """Load the .kv beside a module once, however often the module is imported."""
    path = str(Path(module_file).with_suffix(".kv"))
    if path not in Builder.files:
        Builder.load_file(path)
