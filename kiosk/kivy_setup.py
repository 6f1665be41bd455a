"""Everything Kivy needs before its first import: environment, window size, a CJK font.

Kivy reads its environment when first imported and cannot recreate its window, so
:func:`prepare_kivy` runs before any ``kivy`` import (``kiosk.app`` calls it at import time;
a host that wants other settings calls it first, explicitly).
"""

from __future__ import annotations

import os
from pathlib import Path

# Kivy's own font has no Chinese glyphs.  Debian: fonts-noto-cjk, else fonts-wqy-microhei.
CJK_FONT_CANDIDATES = (
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
    Path("/usr/share/fonts/opentype/noto/NotoSansCJKsc-Regular.otf"),
    Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),
)
FONT_ENV = "KIOSK_CJK_FONT"  # an explicit font file wins over the candidates

DESIGN_SIZE = (1280, 800)  # layouts are drawn for this size and scale with the window

_prepared = False


class FontMissing(RuntimeError):
    """No font that can show Chinese: the kiosk would show empty boxes instead of text."""


def find_cjk_font() -> Path:
    explicit = os.environ.get(FONT_ENV)
    candidates = (Path(explicit),) if explicit else CJK_FONT_CANDIDATES
    for path in candidates:
        if path.is_file():
            return path
    raise FontMissing(
        "no font with Chinese characters found (looked for "
        + ", ".join(str(p) for p in candidates)
        + "): install fonts-noto-cjk or fonts-wqy-microhei, or set " + FONT_ENV + " to a CJK font file"
    )


def prepare_kivy(*, width: int = DESIGN_SIZE[0], height: int = DESIGN_SIZE[1], fullscreen: bool = False,
                 kivy_home: str | None = None, quiet: bool = False, max_fps: int | None = None) -> None:
    """Set Kivy's environment and window before its first import; later calls change nothing.

    ``max_fps=0`` lets scripted runs (tests, headless demos) go as fast as they can draw.
    """
    global _prepared
    if _prepared:
        return
    os.environ.setdefault("KIVY_NO_ARGS", "1")  # our own CLI parses the command line
    os.environ.setdefault("KIVY_NO_FILELOG", "1")
    if kivy_home is not None:
        os.environ["KIVY_HOME"] = kivy_home
    if quiet:
        os.environ.setdefault("KIVY_NO_CONSOLELOG", "1")
    from kivy.config import Config

    Config.set("graphics", "width", str(width))
    Config.set("graphics", "height", str(height))
    Config.set("graphics", "fullscreen", "auto" if fullscreen else "0")
    Config.set("graphics", "resizable", "1")
    Config.set("kivy", "exit_on_escape", "0")  # a kiosk never quits on a key press
    Config.set("input", "mouse", "mouse,disable_multitouch")  # no red multitouch dots on a right click
    if max_fps is not None:
        Config.set("graphics", "maxfps", str(max_fps))
    _prepared = True


def register_cjk_font() -> Path:
    """Make the CJK font Kivy's default font, so every label can show Chinese."""
    from kivy.core.text import DEFAULT_FONT, LabelBase

    path = find_cjk_font()
    bold = path.with_name(path.name.replace("Regular", "Bold"))
    LabelBase.register(DEFAULT_FONT, str(path), fn_bold=str(bold) if bold != path and bold.is_file() else None)
    return path
