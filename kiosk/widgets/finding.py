"""Finding widgets on the window by name: for the UI driver (taps) and the app's observers (recording).

A widget's name is its kv ``id`` or its ``driver_id``.  Only what is on screen counts: widgets
faded out (opacity 0), their children, and screens that are not the current one are skipped.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from kivy.core.window import Window
from kivy.uix.behaviors import ButtonBehavior
from kivy.uix.widget import Widget


def widget_name_at(pos: tuple[float, float]) -> str | None:
    """The name (driver id, else kv id) of the topmost named button under a window position.

    A recorder stores it with a touch so that a replay taps the same button even where the
    layout moved a little.  None when the touch hit no named button.
    """
    names: dict[int, str] = {}
    for widget in visible_widgets(Window):
        for name, child in (getattr(widget, "ids", None) or {}).items():
            names.setdefault(id(getattr(child, "__self__", child)), name)  # ids hold weak proxies
    for widget in visible_widgets(Window):
        name = getattr(widget, "driver_id", None) or names.get(id(widget))
        if not name or not isinstance(widget, ButtonBehavior):
            continue
        if widget.collide_point(*widget.to_widget(*pos)):
            return str(name)
    return None


def is_shown(widget: Widget) -> bool:
    """On the window, not faded out, and not in a screen that is not the current one."""
    node: Any = widget
    while node is not None and node is not Window:
        if getattr(node, "opacity", 1) == 0:
            return False
        node = node.parent
    return node is Window


def visible_widgets(root: Any) -> Iterator[Widget]:
    """Depth first, topmost (last added) first; faded widgets and their children are skipped."""
    for child in root.children:
        if child.opacity == 0:
            continue
        yield child
        yield from visible_widgets(child)
