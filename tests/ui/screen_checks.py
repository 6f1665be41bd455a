"""Checks on what a screen shows: a real picture, and every text inside the screen, whole, and
clear of every other text."""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any

from PIL import Image


def assert_real_picture(path: Path) -> None:
    """A saved screenshot of the whole window that shows something (not one flat colour)."""
    from kivy.core.window import Window

    with Image.open(path) as image:
        assert image.size == (Window.width, Window.height), path
        colours = image.convert("RGB").getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 20, f"{path} looks blank"


def _box(widget: Any) -> tuple[float, float, float, float]:
    """Where the widget is on the window: the part a ScrollView around it shows (the rest is scrolled away)."""
    from kivy.uix.scrollview import ScrollView

    left, bottom = widget.to_window(widget.x, widget.y)
    box = (left, bottom, left + widget.width, bottom + widget.height)
    node = widget.parent
    while node is not None and node is not node.parent:
        if isinstance(node, ScrollView):
            view_left, view_bottom = node.to_window(node.x, node.y)
            box = (max(box[0], view_left), max(box[1], view_bottom), min(box[2], view_left + node.width),
                   min(box[3], view_bottom + node.height))
        node = getattr(node, "parent", None)
    return box


def shown_texts(kiosk: Any) -> list[Any]:
    """Every label or button with a text on the window, the screen's and the top and nav bars'."""
    from kivy.core.window import Window
    from kivy.uix.label import Label

    from kiosk.widgets.finding import visible_widgets

    kiosk.ui.pump(3)
    return [w for w in visible_widgets(Window) if isinstance(w, Label) and w.text.strip()]


def assert_fits(kiosk: Any) -> None:
    """Nothing sticks out of the window, nothing is cut (the text's own size fits its widget), and
    no two texts overlap."""
    from kivy.core.window import Window

    labels = shown_texts(kiosk)
    where = kiosk.ui.current_screen_name
    for label in labels:
        left, bottom, right, top = _box(label)
        name = f"{label.text!r} on {where}"
        assert left >= -0.5 and bottom >= -0.5 and right <= Window.width + 0.5 and top <= Window.height + 0.5, \
            f"{name} sticks out of the window"
        label.texture_update()
        width, height = label.texture_size
        assert width <= label.width + 1 and height <= label.height + 1, \
            f"{name} is cut: its text needs {width:.0f}x{height:.0f}, it has {label.width:.0f}x{label.height:.0f}"
    boxes = [(label, _box(label)) for label in labels]
    for (first, a), (second, b) in itertools.combinations(boxes, 2):
        overlap_x = min(a[2], b[2]) - max(a[0], b[0])
        overlap_y = min(a[3], b[3]) - max(a[1], b[1])
        if overlap_x > 0.5 and overlap_y > 0.5 and not _related(first, second):
            raise AssertionError(f"{first.text!r} overlaps {second.text!r} on {where}")


def _related(first: Any, second: Any) -> bool:
    """One inside the other (a button's own label), which is no overlap."""
    for a, b in ((first, second), (second, first)):
        node = a.parent
        while node is not None and node is not node.parent:
            if node is b:
                return True
            node = getattr(node, "parent", None)
    return False


CJK = r"\u3400-\u9fff"
# A line boundary between a digit and a Chinese character splits a number from its measure word.
SPLIT_NUMBER = re.compile(rf"[0-9][{CJK}]|[{CJK}][0-9]")
WORD = re.compile(r"[!-~]")  # a character of a Latin word, a number or a time ("19:05")


def laid_out_lines(label: Any) -> list[str]:
    label.texture_update()
    lines = ["".join(word.text for word in line.words) for line in label._label._cached_lines]
    return [line for line in lines if line.strip()]


def assert_wraps_cleanly(kiosk: Any) -> None:
    """No shown text breaks a line inside a word, a number or a time (Kivy cuts a word too long for
    its line anywhere); in Chinese, nor between a number and its measure word, nor inside a date."""
    for label in shown_texts(kiosk):
        text = label.text
        lines = laid_out_lines(label)
        position = 0
        for above, below in itertools.pairwise(lines):
            start = text.find(above.strip(), position)
            if start < 0:
                continue
            end = start + len(above.strip())
            position = end
            after = text[end:end + 1]
            if not after or after.isspace():
                continue  # a break where the text has a space: meant (a date kept whole, a date and its time)
            last, first = above.rstrip()[-1:], below.lstrip()[:1]
            if WORD.match(last) and WORD.match(first):
                raise AssertionError(f"{text!r} is cut inside a word: {above!r} / {below!r}")
            assert not SPLIT_NUMBER.fullmatch(last + first), f"{text!r} breaks {above!r} / {below!r}"


