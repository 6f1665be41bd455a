"""The entrance ticket's layout, as ESC/POS bytes built with python-escpos.

Chinese text goes out as raw GB18030 bytes with the printer in its Chinese mode (FS &):
python-escpos has no GB18030 code page. ASCII is the same in GB18030, so every line is sent
that way. The entrance QR is the printer's native QR (GS ( k), about 250 bytes per ticket
instead of about 4.6 KB for the same code as a raster image.
"""

from __future__ import annotations

from escpos.constants import QR_ECLEVEL_M
from escpos.escpos import Escpos
from escpos.printer import Dummy

from devices.printer_api import TicketContent

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


def write_ticket(printer: Escpos, ticket: TicketContent, qr_module: int | None = None) -> None:
    """Drive ``printer`` (any python-escpos connection) through one ticket, ending with a cut."""
    printer.hw("INIT")
    printer._raw(FS_CHINESE_ON)
    printer.set(align="center")
    _size(printer, 1, bold=True)
    _line(printer, ticket.cinema_name)
    _line(printer, "-" * LINE_WIDTH_CHARS)
    _size(printer, 2, bold=True)
    _line(printer, ticket.film_title)
    if ticket.film_original_title and ticket.film_original_title != ticket.film_title:
        _size(printer, 1)
        _line(printer, ticket.film_original_title)
    _size(printer, 2, bold=True)
    _line(printer, ticket.hall_name)
    _line(printer, f"{ticket.row}排 {ticket.seat}座")
    _size(printer, 1, bold=True)
    _line(printer, ticket.show_start.strftime("%Y-%m-%d %H:%M"))
    _size(printer, 1)
    _line(printer, f"票价 {format_price(ticket.price_fen)}")
    _line(printer, f"订单 {ticket.order_ref}    第 {ticket.sequence} 张")
    _line(printer)
    # alignment first: qr(..., native=True, center=True) raises NotImplementedError
    module = qr_module or (QR_MODULE_DOTS if len(ticket.entrance_token) <= LONG_TOKEN_CHARS else 4)
    printer.qr(ticket.entrance_token, ec=QR_ECLEVEL_M, size=module, native=True)
    _line(printer)
    _line(printer, "入场请出示此二维码")
    _line(printer, ticket.ticket_id)
    printer._raw(FS_CHINESE_OFF)
    printer.cut(mode="FULL")


def build_ticket_job(ticket: TicketContent, profile: str | None = None, qr_module: int | None = None) -> bytes:
    """The complete bytes of one ticket (text, native QR, cut), built without a printer."""
    printer = Dummy(profile=profile)
    write_ticket(printer, ticket, qr_module)
    return printer.output
