"""Every command python-escpos 3.1 emits is known to the virtual printer's parser."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from escpos.escpos import Escpos
from escpos.printer import Dummy
from PIL import Image, ImageDraw

from devices.sim.escpos_parser import parse_all
from devices.sim.escpos_render import render_commands


def _picture() -> Image.Image:
    img = Image.new("RGB", (64, 40), "white")
    ImageDraw.Draw(img).ellipse((4, 4, 60, 36), fill="black")
    return img


CALLS: dict[str, Callable[[Escpos], object]] = {
    "text_styles": lambda p: (
        p.set(align="center", font="b", bold=True, underline=2, double_width=True, double_height=True),
        p.set(custom_size=True, width=8, height=8, density=3, invert=True, smooth=True, flip=True),
        p.set_with_default(),
        p.textln("plain"),
        p.block_text("a long line " * 8, columns=20),
    ),
    "code_pages": lambda p: (p.charcode("CP866"), p.textln("Привет"), p.charcode("AUTO"), p.textln("Grüße €")),
    "spacing_and_feeds": lambda p: (
        p.line_spacing(60, 360),
        p.line_spacing(40, 180),
        p.line_spacing(20, 60),
        p.line_spacing(),
        p.ln(2),
        p.print_and_feed(3),
        *(p.control(c) for c in ("LF", "FF", "CR", "HT", "VT")),
    ),
    "hardware": lambda p: (p.hw("INIT"), p.hw("SELECT"), p.hw("RESET"), p.panel_buttons(False), p.panel_buttons()),
    "drawer_and_buzzer": lambda p: (p.cashdraw(2), p.cashdraw(5), p.cashdraw([27, 112, 48, 25, 255]), p.buzzer(3, 2)),
    "barcodes": lambda p: (
        p.barcode("4006381333931", "EAN13"),
        p.barcode("{BTICKET-42", "CODE128", function_type="B", pos="ABOVE", font="B"),
        p.barcode("ABC-123", "CODE39", pos="OFF"),
        p.barcode("123456789012", "EAN13", force_software="bitImageRaster"),
    ),
    "qr": lambda p: (p.qr("native QR", native=True, size=6, ec=3), p.qr("image QR", size=4)),
    "images": lambda p: tuple(
        p.image(_picture(), impl=impl, high_density_vertical=hv, high_density_horizontal=hh)
        for impl in ("bitImageRaster", "graphics", "bitImageColumn")
        for hv in (True, False)
        for hh in (True, False)
    ),
    "cuts": lambda p: (p.cut(), p.cut("PART"), p.cut(feed=False)),
    "slip_and_display": lambda p: (
        p.target("SLIP"),
        p.target("ROLL"),
        p.eject_slip(),
        p.linedisplay("hello"),
        p.linedisplay_clear(),
    ),
    "status_queries": lambda p: (p._raw(b"\x10\x04\x01"), p._raw(b"\x10\x04\x04")),
}


@pytest.mark.parametrize("name", sorted(CALLS))
def test_python_escpos_output_parses_and_renders(name: str) -> None:
    printer = Dummy()
    CALLS[name](printer)
    commands = parse_all(printer.output)
    assert commands
    page = render_commands(commands)
    assert page.image.width == 576


def test_native_qr_payload_is_recorded() -> None:
    printer = Dummy()
    printer.set(align="center")
    printer.qr("TK1.payload.sig", native=True, size=5)
    assert render_commands(parse_all(printer.output)).qr_payloads == ["TK1.payload.sig"]
