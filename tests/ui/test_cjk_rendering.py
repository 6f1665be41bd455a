"""Chinese text really renders (no "tofu" boxes), and screenshots land where they are asked to."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from tests.ui.conftest import Kiosk

pytestmark = pytest.mark.ui


def glyph_pixels(text: str, font_name: str | None = None) -> bytes:
    """Alpha channel of ``text`` drawn by Kivy's text provider, in the default font unless named."""
    from kivy.core.text import Label as CoreLabel

    options = {"text": text, "font_size": 64}
    if font_name is not None:
        options["font_name"] = font_name
    label = CoreLabel(**options)
    label.refresh()
    texture = label.texture
    assert texture is not None
    return bytes(texture.pixels[3::4])


def test_default_font_draws_distinct_chinese_glyphs(start_kiosk: Callable[..., Kiosk]) -> None:
    start_kiosk()  # the app registers the CJK font as Kivy's default
    take, ticket = glyph_pixels("取"), glyph_pixels("票")
    assert any(take) and any(ticket), "nothing was drawn"
    assert take != ticket, "two different characters came out identical: the font lacks Chinese glyphs"
    # Traditional-only characters too (繁體中文).
    assert glyph_pixels("體") != glyph_pixels("樂")


def test_a_font_without_chinese_would_be_caught() -> None:
    """Kivy's bundled Roboto has no Chinese: both characters come out as the same box."""
    import kivy

    roboto = str(Path(kivy.kivy_data_dir) / "fonts" / "Roboto-Regular.ttf")
    assert glyph_pixels("A", font_name=roboto) != glyph_pixels("B", font_name=roboto)
    assert glyph_pixels("取", font_name=roboto) == glyph_pixels("票", font_name=roboto)


def test_a_missing_cjk_font_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from kiosk.kivy_setup import FONT_ENV, FontMissing, find_cjk_font

    monkeypatch.setenv(FONT_ENV, str(tmp_path / "no-such-font.ttc"))
    with pytest.raises(FontMissing, match="install fonts-noto-cjk"):
        find_cjk_font()
    monkeypatch.delenv(FONT_ENV)
    assert find_cjk_font().is_file()


def test_screenshot_goes_to_the_exact_path_and_shows_the_screen(start_kiosk: Callable[..., Kiosk],
                                                               tmp_path: Path) -> None:
    from kivy.core.window import Window

    kiosk = start_kiosk()
    target = tmp_path / "shots" / "idle screen.png"
    assert kiosk.ui.screenshot(target) == target
    assert kiosk.ui.screenshot(target) == target  # again: overwritten, not numbered
    assert sorted(p.name for p in target.parent.iterdir()) == ["idle screen.png"]
    with Image.open(target) as image:
        assert image.size == tuple(Window.size)
        rgb = image.convert("RGB")
        # The big "collect tickets" button is drawn in the primary colour in the middle of the window.
        middle = rgb.getpixel((image.width // 2, int(image.height * 0.4)))
        corner = rgb.getpixel((image.width - 5, image.height - 5))
    assert middle != corner
    assert isinstance(middle, tuple) and middle[0] > 200 and middle[2] < 100, middle  # orange, not background
