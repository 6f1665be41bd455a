"""Chinese texts wrap the way a Chinese reader expects: a number stays with its measure word, a date in one piece.

Kivy breaks lines only at ASCII spaces (and cuts a word too long for a line character by
character), so a space between a Chinese character and a number is a place where "3" can end a
line and "张票" start the next.  These tests render the screens at the kiosk's size and read the
lines Kivy actually laid out.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from kivy.uix.label import Label

from backend_client.wire import OrderView
from tests.support.fakes import PAPER_OUT, make_order
from tests.ui.conftest import Kiosk
from tests.ui.test_pickup_screens import enter_code

pytestmark = pytest.mark.ui

StartKiosk = Callable[..., Kiosk]

CJK = r"\u3400-\u9fff"
# A line boundary between a digit and a Chinese character (either way round) splits a number
# from its measure word ("还有 3" / "张票未取") or a date ("2026年12" / "月1日").
SPLIT_NUMBER = re.compile(rf"[0-9][{CJK}]|[{CJK}][0-9]")


def laid_out(label: Label, width: float) -> list[str]:
    """The lines Kivy lays ``label``'s text out in when the label is ``width`` pixels wide."""
    label.text_size = (width, None)
    label.texture_update()
    lines = ["".join(word.text for word in line.words) for line in label._label._cached_lines]
    return [line for line in lines if line.strip()]


def text_width(label: Label, text: str) -> float:
    from kivy.core.text import Label as CoreLabel

    core = CoreLabel(text=text, font_size=label.font_size, font_name=label.font_name, bold=label.bold)
    core.refresh()
    return float(core.content_width)


def label_showing(kiosk: Kiosk, fragment: str) -> Label:
    from kivy.core.window import Window

    from kiosk.ui_driver import visible_widgets

    kiosk.ui.pump(3)
    for widget in visible_widgets(Window):
        if isinstance(widget, Label) and fragment in widget.text:
            return widget
    raise AssertionError(f"no label shows {fragment!r}")


def split_numbers(lines: list[str]) -> list[tuple[str, str]]:
    """Neighbouring lines where one ends and the next starts between a digit and a Chinese character."""
    return [(above, below) for above, below in itertools.pairwise(lines)
            if SPLIT_NUMBER.fullmatch(above.rstrip()[-1:] + below.lstrip()[:1])]


def late_show_order() -> OrderView:
    # A two-digit month: the longest date there is.
    return make_order(tickets=4).model_copy(update={"show_start": datetime(2026, 12, 1, 11, 30, tzinfo=UTC)})


@pytest.mark.parametrize("language", ["zh_CN", "zh_TW"])
def test_numbers_stay_with_their_measure_words_and_dates_stay_whole(start_kiosk: StartKiosk, shots: Path,
                                                                    language: str) -> None:
    kiosk = start_kiosk(language=language, order=late_show_order())
    ui = kiosk.ui
    enter_code(kiosk)
    ui.wait_for("pickup.review")
    ui.wait_for(lambda: ui.is_enabled("confirm"))
    ui.screenshot(shots / f"review-{language}.png")
    date = "2026年12月1日"
    time_line = label_showing(kiosk, date)
    # Every width from "the date only just fits" to the card's own: the date is never cut.
    narrowest = int(text_width(time_line, date)) + 2
    for width in range(narrowest, int(time_line.width) + 1, 4):
        lines = laid_out(time_line, width)
        assert any(date in line for line in lines), (width, lines)
        assert not split_numbers(lines), (width, lines)

    kiosk.rig.printer.status_after_print = PAPER_OUT  # three left: "还有 3 张票未取。出票打印机缺纸。…"
    ui.tap("confirm")
    ui.wait_for("pickup.done")
    ui.screenshot(shots / f"done-{language}.png")
    owed = label_showing(kiosk, "3")
    full_width = int(owed.width)
    assert len(laid_out(owed, full_width)) >= 1
    # At the kiosk's size and on every narrower (or larger-font) screen down to a quarter of it.
    for width in range(full_width // 4, full_width + 1, 4):
        lines = laid_out(owed, width)
        assert not split_numbers(lines), (width, lines)
        assert "".join(lines) == owed.text.replace(" ", ""), "nothing is lost when the text wraps"
    assert re.search(r"3[张張]", owed.text), owed.text
