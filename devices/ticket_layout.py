"""The entrance ticket's layout, as ESC/POS bytes built with python-escpos.

Chinese text goes out as raw GB18030 bytes with the printer in its Chinese mode (FS &):
python-escpos has no GB18030 code page. ASCII is the same in GB18030, so every line is sent
that way. The entrance QR is the printer's native QR (GS ( k), about 250 bytes per ticket
instead of about 4.6 KB for the same code as a raster image.

What goes on the ticket, line by line, is data: ``assets/tickets/ticket.toml`` (the project's
top-level assets, shipped as package data), or any template file passed in.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from escpos.constants import QR_ECLEVEL_M
from escpos.escpos import Escpos
from escpos.printer import Dummy

from devices.printer_api import TicketContent

DEFAULT_TEMPLATE = Path(__file__).resolve().parents[1] / "assets" / "tickets" / "ticket.toml"

FS_CHINESE_ON = b"\x1c&"
FS_CHINESE_OFF = b"\x1c."
QR_MODULE_DOTS = 5  # 0.6 mm modules at 203 dpi: comfortably read by entrance scanners
LONG_TOKEN_CHARS = 300  # above this, smaller modules keep the symbol within the paper
LINE_WIDTH_CHARS = 48  # font A on 80 mm paper


def _line(printer: Escpos, text: str = "") -> None:
    # "¥" would become a 4-byte GB18030 sequence that GBK-only printers print as garbage
    printer._raw(text.replace("¥", "元").encode("gb18030", errors="replace") + b"\n")


def _size(printer: Escpos, scale: int, bold: bool = False) -> None:
    # GS ! scales both single-byte and Chinese characters (ESC ! sizes only the former)
    printer.set(custom_size=True, width=scale, height=scale, bold=bold)


def format_price(price_fen: int) -> str:
    return f"{price_fen // 100}.{price_fen % 100:02d} 元"


class TemplateError(ValueError):
    """The ticket template cannot be used: the message names the file and the line."""


@dataclass(frozen=True)
class TemplateLine:
    text: str | None = None
    rule: str | None = None
    qr: str | None = None
    style: tuple[int, bool] | None = None  # (size, bold), set before the line
    only_if: str | None = None
    unless_same_as: str | None = None


@dataclass(frozen=True)
class TicketTemplate:
    lines: tuple[TemplateLine, ...]
    line_width_chars: int = LINE_WIDTH_CHARS


_FIELDS = ("cinema_name", "film_title", "film_original_title", "hall_name", "row", "seat", "show_start", "price",
           "order_ref", "sequence", "ticket_id", "entrance_token")


@cache
def load_template(path: Path = DEFAULT_TEMPLATE) -> TicketTemplate:
    """Read and check a ticket template (see ``assets/tickets/ticket.toml``)."""
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise TemplateError(f"{path}: cannot read the ticket template: {exc}") from None
    lines = []
    for number, raw in enumerate(data.get("line", []), start=1):
        lines.append(_template_line(path, number, raw))
    if not lines:
        raise TemplateError(f"{path}: the ticket template has no [[line]]")
    width = data.get("line_width_chars", LINE_WIDTH_CHARS)
    if not isinstance(width, int) or not 8 <= width <= 96:
        raise TemplateError(f"{path}: line_width_chars must be a whole number from 8 to 96")
    return TicketTemplate(tuple(lines), width)


def _template_line(path: Path, number: int, raw: Any) -> TemplateLine:
    where = f"{path}: line {number}"
    if not isinstance(raw, dict) or sum(key in raw for key in ("text", "rule", "qr")) != 1:
        raise TemplateError(f"{where}: needs exactly one of text, rule or qr")
    style = None
    if "style" in raw:
        size, bold = raw["style"].get("size", 1), raw["style"].get("bold", False)
        if not isinstance(size, int) or not 1 <= size <= 8 or not isinstance(bold, bool):
            raise TemplateError(f"{where}: style needs size 1-8 and bold true/false")
        style = (size, bold)
    for name in ("qr", "only_if", "unless_same_as"):
        if name in raw and raw[name] not in _FIELDS:
            raise TemplateError(f"{where}: {name} names no ticket field ({', '.join(_FIELDS)})")
    if "rule" in raw and (not isinstance(raw["rule"], str) or len(raw["rule"]) != 1):
        raise TemplateError(f"{where}: rule is one character")
    if "text" in raw:
        try:
            raw["text"].format(**{name: "" for name in _FIELDS})
        except (KeyError, IndexError, ValueError, AttributeError) as exc:
            raise TemplateError(f"{where}: text names an unknown field or is malformed ({exc})") from None
    return TemplateLine(text=raw.get("text"), rule=raw.get("rule"), qr=raw.get("qr"), style=style,
                        only_if=raw.get("only_if"), unless_same_as=raw.get("unless_same_as"))


def _fields(ticket: TicketContent) -> dict[str, str]:
    return {
        "cinema_name": ticket.cinema_name, "film_title": ticket.film_title,
        "film_original_title": ticket.film_original_title or "", "hall_name": ticket.hall_name,
        "row": ticket.row, "seat": ticket.seat, "show_start": ticket.show_start.strftime("%Y-%m-%d %H:%M"),
        "price": format_price(ticket.price_fen), "order_ref": ticket.order_ref, "sequence": ticket.sequence,
        "ticket_id": ticket.ticket_id, "entrance_token": ticket.entrance_token,
    }


def write_ticket(printer: Escpos, ticket: TicketContent, qr_module: int | None = None,
                 template: TicketTemplate | None = None) -> None:
    """Drive ``printer`` (any python-escpos connection) through one ticket, ending with a cut."""
    template = template or load_template()
    fields = _fields(ticket)
    printer.hw("INIT")
    printer._raw(FS_CHINESE_ON)
    printer.set(align="center")
    for line in template.lines:
        if line.only_if is not None and (not fields[line.only_if] or (
                line.unless_same_as is not None and fields[line.only_if] == fields[line.unless_same_as])):
            continue
        if line.style is not None:
            _size(printer, line.style[0], bold=line.style[1])
        if line.qr is not None:
            token = fields[line.qr]
            # alignment first: qr(..., native=True, center=True) raises NotImplementedError
            module = qr_module or (QR_MODULE_DOTS if len(token) <= LONG_TOKEN_CHARS else 4)
            printer.qr(token, ec=QR_ECLEVEL_M, size=module, native=True)
        elif line.rule is not None:
            _line(printer, line.rule * template.line_width_chars)
        else:
            _line(printer, (line.text or "").format(**fields))
    printer._raw(FS_CHINESE_OFF)
    printer.cut(mode="FULL")


def build_ticket_job(ticket: TicketContent, profile: str | None = None, qr_module: int | None = None,
                     template: TicketTemplate | None = None) -> bytes:
    """The complete bytes of one ticket (text, native QR, cut), built without a printer."""
    printer = Dummy(profile=profile)
    write_ticket(printer, ticket, qr_module, template)
    return printer.output
