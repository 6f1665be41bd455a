"""Draws parsed ESC/POS commands the way an 80 mm, 203 dpi receipt printer would.

The page is 576 dots wide. Font A cells are 12 x 24 dots, font B 9 x 17, Chinese (FS &)
double-byte characters 24 x 24, all scaled by the character size multipliers. Text in the
selected code page (ESC t) is decoded with python-escpos's own code page tables; Chinese mode
text is decoded as GB18030. Native QR codes are drawn as real symbols (``qrcode``), PDF417 and
1D barcodes with zxing-cpp's writer, so the picture can be scanned like the paper.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

import qrcode
import qrcode.constants
import zxingcpp
from escpos.capabilities import get_profile
from escpos.magicencode import Encoder
from PIL import Image, ImageDraw, ImageFont, ImageOps

from devices.sim.escpos_parser import Command

PAPER_WIDTH_DOTS = 576
DEFAULT_LINE_SPACING = 30
WHITE, BLACK, RED_INK = 255, 0, 110

CJK_FONT_CANDIDATES = (
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
    Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),
    Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"),
)
LATIN_FONT_CANDIDATES = (Path("/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf"),)

# (cell width, cell height) of the printer's fonts A and B, and of a double-byte character
FONT_CELLS = {0: (12, 24), 1: (9, 17)}
KANJI_CELL = (24, 24)

QR_EC_LEVELS = {
    48: qrcode.constants.ERROR_CORRECT_L,
    49: qrcode.constants.ERROR_CORRECT_M,
    50: qrcode.constants.ERROR_CORRECT_Q,
    51: qrcode.constants.ERROR_CORRECT_H,
}

# GS k barcode systems (function A 0..6, function B 65..79) and the zxing-cpp writer formats
BARCODE_SYSTEMS: dict[int, tuple[str, str]] = {
    0: ("UPC-A", "UPCA"),
    1: ("UPC-E", "UPCE"),
    2: ("EAN13", "EAN13"),
    3: ("EAN8", "EAN8"),
    4: ("CODE39", "Code39"),
    5: ("ITF", "ITF"),
    6: ("CODABAR", "Codabar"),
    65: ("UPC-A", "UPCA"),
    66: ("UPC-E", "UPCE"),
    67: ("EAN13", "EAN13"),
    68: ("EAN8", "EAN8"),
    69: ("CODE39", "Code39"),
    70: ("ITF", "ITF"),
    71: ("CODABAR", "Codabar"),
    72: ("CODE93", "Code93"),
    73: ("CODE128", "Code128"),
    74: ("GS1-128", "Code128"),
    75: ("GS1 DATABAR OMNIDIRECTIONAL", "DataBar"),
    76: ("GS1 DATABAR TRUNCATED", "DataBar"),
    77: ("GS1 DATABAR LIMITED", "DataBarLtd"),
    78: ("GS1 DATABAR EXPANDED", "DataBarExp"),
}
# the check digit a printer computes itself when the data leaves it out
CHECK_DIGIT_LENGTHS = {"UPCA": 12, "EAN13": 13, "EAN8": 8}


class FontMissingError(RuntimeError):
    """No CJK font is installed, so Chinese text cannot be drawn."""


@functools.cache
def _cjk_font_path() -> Path:
    for path in CJK_FONT_CANDIDATES:
        if path.exists():
            return path
    raise FontMissingError(
        "no CJK font found: install fonts-noto-cjk (" + str(CJK_FONT_CANDIDATES[0]) + ") or "
        "fonts-wqy-microhei (" + str(CJK_FONT_CANDIDATES[1]) + ")"
    )


@functools.cache
def _cjk_font(size: int) -> ImageFont.FreeTypeFont:
    path = _cjk_font_path()
    if path.suffix == ".ttc" and "Noto" in path.name:
        # the collection holds JP, KR, SC, TC, HK faces: pick the Simplified Chinese one
        for index in range(10):
            font = ImageFont.truetype(str(path), size, index=index)
            if font.getname()[0] == "Noto Sans CJK SC":
                return font
    return ImageFont.truetype(str(path), size)


@functools.cache
def _latin_font(size: int) -> ImageFont.FreeTypeFont:
    for path in LATIN_FONT_CANDIDATES:
        if path.exists():
            return ImageFont.truetype(str(path), size)
    return _cjk_font(size)  # the CJK fonts carry Latin glyphs too


def _is_wide(char: str) -> bool:
    code = ord(char)
    return code >= 0x2E80 and not 0xFF61 <= code <= 0xFF9F


@functools.cache
def _code_page_high_chars(table: int) -> tuple[str, ...] | None:
    """Characters 0x80..0xFF of ESC t table ``table`` (python-escpos's printer database)."""
    name = get_profile("default").codePages.get(str(table))
    if not name or name == "Unknown":
        return None
    try:
        return tuple(Encoder._get_codepage_char_list(name))
    except (LookupError, KeyError, AssertionError):
        return None


@functools.cache
def _glyph_cell(char: str, cell_w: int, cell_h: int, bold: bool) -> Image.Image:
    """One character drawn black on white in a cell of the font's natural size."""
    cell = Image.new("L", (cell_w, cell_h), WHITE)
    if char.strip():
        wide = _is_wide(char)
        font = _cjk_font(cell_h - 2) if wide else _latin_font(round(cell_h * 0.82))
        draw = ImageDraw.Draw(cell)
        draw.text((cell_w / 2, cell_h / 2), char, font=font, fill=BLACK, anchor="mm")
        if bold:
            draw.text((cell_w / 2 + 1, cell_h / 2), char, font=font, fill=BLACK, anchor="mm")
    return cell


def _bits_to_image(rows: list[bytes], width: int) -> Image.Image:
    """Row-major 1-bit data (MSB first, 1 = black) to a white-paper L image."""
    height = len(rows)
    raw = b"".join(rows)
    img = Image.frombytes("1", (len(rows[0]) * 8 if rows else 0, height), raw) if rows else None
    if img is None or height == 0 or width == 0:
        return Image.new("L", (max(width, 1), max(height, 1)), WHITE)
    return ImageOps.invert(img.convert("L")).crop((0, 0, width, height))


def _columns_to_image(data: bytes, columns: int, bytes_per_column: int) -> Image.Image:
    """Column-major 1-bit data (each column top to bottom, MSB on top) to an L image."""
    height = bytes_per_column * 8
    img = Image.new("L", (max(columns, 1), height), WHITE)
    pixels = img.load()
    assert pixels is not None
    for col in range(columns):
        for byte_index in range(bytes_per_column):
            index = col * bytes_per_column + byte_index
            value = data[index] if index < len(data) else 0
            for bit in range(8):
                if value & (0x80 >> bit):
                    pixels[col, byte_index * 8 + bit] = BLACK
    return img


@dataclass
class _Piece:
    image: Image.Image
    text: str = ""


@dataclass
class RenderedPage:
    """What one job put on paper."""

    image: Image.Image
    texts: list[str] = field(default_factory=list)  # printed lines, decoded
    qr_payloads: list[str] = field(default_factory=list)
    pdf417_payloads: list[str] = field(default_factory=list)
    barcodes: list[tuple[str, str]] = field(default_factory=list)  # (symbology, data)
    drawer_pulses: int = 0
    beeps: int = 0
    notes: list[str] = field(default_factory=list)  # things drawn as labelled placeholders

    def save(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.image.save(path)
        return path


@dataclass
class _Style:
    font: int = 0
    bold: bool = False
    double_strike: bool = False
    underline: int = 0
    width: int = 1
    height: int = 1
    align: int = 0
    upside_down: bool = False
    reverse: bool = False
    red: bool = False
    char_spacing: int = 0
    line_spacing: int = DEFAULT_LINE_SPACING
    left_margin: int = 0
    print_width: int = PAPER_WIDTH_DOTS
    code_table: int = 0
    chinese: bool = False
    kanji_double_w: bool = False
    kanji_double_h: bool = False
    kanji_underline: int = 0
    user_chars_on: bool = False
    tabs: tuple[int, ...] = tuple(range(8, 256, 8))
    barcode_height: int = 162
    barcode_module: int = 3
    barcode_hri: int = 0
    barcode_hri_font: int = 0
    qr_module: int = 3
    qr_ec: int = 48
    pdf417_module: int = 3
    pdf417_row_height: int = 3


class EscposRenderer:
    """Apply commands one by one; ``take_page`` returns what was printed since the last take."""

    def __init__(self, paper_width: int = PAPER_WIDTH_DOTS) -> None:
        self.paper_width = paper_width
        self.style = _Style(print_width=paper_width)
        self._user_chars: dict[int, Image.Image] = {}
        self._qr_data = b""
        self._pdf417_data = b""
        self._graphics: Image.Image | None = None
        self._downloaded: Image.Image | None = None
        self._pending_double_byte = b""
        self._new_page()

    # -- page and line bookkeeping -------------------------------------------------------

    def _new_page(self) -> None:
        self._placed: list[tuple[int, int, Image.Image]] = []
        self._y = 0
        self._line: list[_Piece] = []
        self._line_x = 0
        self._page = RenderedPage(Image.new("L", (1, 1), WHITE))

    @property
    def has_content(self) -> bool:
        return bool(self._placed or self._line)

    def _area(self) -> tuple[int, int]:
        left = min(self.style.left_margin, self.paper_width - 1)
        return left, max(1, min(self.style.print_width, self.paper_width - left))

    def _place_block(self, img: Image.Image, advance: int | None = None) -> None:
        """A full-width item (image, code) printed on its own, honouring the justification."""
        self._flush_line(feed_if_empty=False)
        left, width = self._area()
        if img.width > width:
            img = img.crop((0, 0, width, img.height))
        offset = {1: (width - img.width) // 2, 2: width - img.width}.get(self.style.align, 0)
        self._placed.append((left + offset, self._y, img))
        self._y += img.height if advance is None else advance

    def _add_piece(self, piece: _Piece) -> None:
        _, width = self._area()
        if self._line_x + piece.image.width > width and self._line:
            self._flush_line(feed_if_empty=False)
        self._line.append(piece)
        self._line_x += piece.image.width

    def _flush_line(self, feed_if_empty: bool = True) -> None:
        if not self._line:
            if feed_if_empty:
                self._y += self.style.line_spacing
            return
        height = max(p.image.height for p in self._line)
        line = Image.new("L", (self._line_x, height), WHITE)
        x = 0
        for piece in self._line:
            line.paste(piece.image, (x, height - piece.image.height))
            x += piece.image.width
        if self.style.upside_down:
            line = line.rotate(180)
        left, width = self._area()
        offset = {1: (width - line.width) // 2, 2: width - line.width}.get(self.style.align, 0)
        self._placed.append((left + max(0, offset), self._y, line))
        self._y += max(self.style.line_spacing, height)
        text = "".join(p.text for p in self._line).rstrip()
        if text:
            self._page.texts.append(text)
        self._line = []
        self._line_x = 0

    def _feed(self, dots: int) -> None:
        self._flush_line(feed_if_empty=False)
        self._y += dots

    def mark_cut(self) -> None:
        """Draw a dashed cut line instead of ending the page (one picture of a whole stream)."""
        self._flush_line(feed_if_empty=False)
        mark = Image.new("L", (self.paper_width, 16), WHITE)
        draw = ImageDraw.Draw(mark)
        for x in range(0, self.paper_width, 16):
            draw.line((x, 8, x + 8, 8), fill=128, width=2)
        self._placed.append((0, self._y, mark))
        self._y += mark.height

    def take_page(self, bottom_margin: int = 24) -> RenderedPage:
        """End the page (a cut, or the end of the stream) and start a new one."""
        self._flush_line(feed_if_empty=False)
        self._drop_partial_double_byte()
        height = max(self._y, max((y + img.height for _, y, img in self._placed), default=0)) + bottom_margin
        canvas = Image.new("L", (self.paper_width, height), WHITE)
        for x, y, img in self._placed:
            canvas.paste(img, (x, y))
        page = self._page
        page.image = canvas
        self._new_page()
        return page

    # -- text -----------------------------------------------------------------------------

    def _char_piece(self, glyph: Image.Image, text: str, wide: bool) -> _Piece:
        style = self.style
        w_mult, h_mult = style.width, style.height
        if wide:
            w_mult = max(w_mult, 2 if style.kanji_double_w else 1)
            h_mult = max(h_mult, 2 if style.kanji_double_h else 1)
        img = glyph.resize((glyph.width * w_mult, glyph.height * h_mult), Image.Resampling.NEAREST)
        if style.char_spacing:
            spaced = Image.new("L", (img.width + style.char_spacing * w_mult, img.height), WHITE)
            spaced.paste(img, (0, 0))
            img = spaced
        underline = style.kanji_underline if wide and style.kanji_underline else style.underline
        if underline:
            draw = ImageDraw.Draw(img)
            draw.rectangle((0, img.height - underline, img.width - 1, img.height - 1), fill=BLACK)
        if style.reverse:
            img = ImageOps.invert(img)
        elif style.red:
            img = img.point(lambda v: RED_INK if v < 128 else WHITE)
        return _Piece(img, text)

    def _text(self, data: bytes) -> None:
        if self.style.chinese:
            self._chinese_text(self._pending_double_byte + data)
            return
        high = _code_page_high_chars(self.style.code_table)
        cell_w, cell_h = FONT_CELLS[self.style.font]
        bold = self.style.bold or self.style.double_strike
        for byte in data:
            if self.style.user_chars_on and byte in self._user_chars:
                glyph = self._user_chars[byte]
                cell = Image.new("L", (max(cell_w, glyph.width), max(cell_h, glyph.height)), WHITE)
                cell.paste(glyph, (0, 0))
                self._add_piece(self._char_piece(cell, "\ufffc", wide=False))
                continue
            if byte < 0x80:
                char = chr(byte)
            elif high is not None:
                char = high[byte - 0x80]
            else:
                char = "?"  # a table this printer does not have
            glyph_w = cell_w * 2 if _is_wide(char) else cell_w
            self._add_piece(self._char_piece(_glyph_cell(char, glyph_w, cell_h, bold), char, wide=False))

    def _chinese_text(self, data: bytes) -> None:
        """GB18030: ASCII single bytes, 2-byte characters, and 4-byte ones (second byte a digit)."""
        self._pending_double_byte = b""
        bold = self.style.bold or self.style.double_strike
        cell_w, cell_h = FONT_CELLS[self.style.font]
        pos = 0
        while pos < len(data):
            byte = data[pos]
            if byte < 0x80:
                self._add_piece(self._char_piece(_glyph_cell(chr(byte), cell_w, cell_h, bold), chr(byte), False))
                pos += 1
                continue
            need = 4 if pos + 1 < len(data) and 0x30 <= data[pos + 1] <= 0x39 else 2
            if pos + need > len(data):
                self._pending_double_byte = data[pos:]  # the rest comes with the next text run
                return
            char = data[pos : pos + need].decode("gb18030", errors="replace")
            kw, kh = KANJI_CELL
            self._add_piece(self._char_piece(_glyph_cell(char, kw, kh, bold), char, wide=True))
            pos += need

    def _drop_partial_double_byte(self) -> None:
        if self._pending_double_byte:
            self._page.notes.append("incomplete double-byte character dropped")
            self._pending_double_byte = b""

    def _tab(self) -> None:
        cell_w = FONT_CELLS[self.style.font][0] * self.style.width
        column = self._line_x // cell_w
        stop = next((t for t in self.style.tabs if t > column), None)
        if stop is None:
            return
        gap = (stop - column) * cell_w
        self._add_piece(_Piece(Image.new("L", (gap, 1), WHITE), " "))

    def _move_to(self, x: int) -> None:
        if x > self._line_x:
            self._add_piece(_Piece(Image.new("L", (x - self._line_x, 1), WHITE), " "))

    # -- codes and images ------------------------------------------------------------------

    def _placeholder(self, label: str, size: tuple[int, int] = (240, 80)) -> Image.Image:
        box = Image.new("L", size, WHITE)
        draw = ImageDraw.Draw(box)
        draw.rectangle((0, 0, size[0] - 1, size[1] - 1), outline=BLACK, width=2)
        draw.line((0, 0, size[0] - 1, size[1] - 1), fill=160)
        draw.text((8, 8), label[:40], font=_latin_font(14), fill=BLACK)
        self._page.notes.append(label)
        return box

    def _qr(self) -> None:
        if not self._qr_data:
            return
        code = qrcode.QRCode(version=None, error_correction=QR_EC_LEVELS.get(self.style.qr_ec, 0), box_size=1, border=0)
        code.add_data(self._qr_data)
        code.make(fit=True)
        modules = code.get_matrix()
        img = Image.new("L", (len(modules), len(modules)), WHITE)
        img.putdata([BLACK if dark else WHITE for row in modules for dark in row])
        size = len(modules) * self.style.qr_module
        self._place_block(img.resize((size, size), Image.Resampling.NEAREST))
        self._page.qr_payloads.append(self._qr_data.decode("utf-8", errors="replace"))

    def _pdf417(self) -> None:
        if not self._pdf417_data:
            return
        text = self._pdf417_data.decode("latin-1")
        symbol = zxingcpp.create_barcode(text, zxingcpp.BarcodeFormat.PDF417)
        img = Image.fromarray(symbol.to_image(scale=1, add_quiet_zones=False))
        module = self.style.pdf417_module
        img = img.resize(
            (img.width * module, img.height * module * self.style.pdf417_row_height // 3),
            Image.Resampling.NEAREST,
        )
        self._place_block(img)
        self._page.pdf417_payloads.append(text)

    def _two_d_code(self, data: bytes) -> None:
        if len(data) < 2:
            return
        symbol, function, rest = data[0], data[1], data[2:]
        style = self.style
        if symbol == 49:  # QR
            if function == 67 and rest:
                style.qr_module = max(1, min(16, rest[0]))
            elif function == 69 and rest:
                style.qr_ec = rest[0]
            elif function == 80:
                self._qr_data = rest[1:]
            elif function == 81:
                self._qr()
        elif symbol == 48:  # PDF417
            if function == 67 and rest:
                style.pdf417_module = max(2, min(8, rest[0]))
            elif function == 68 and rest:
                style.pdf417_row_height = max(2, min(8, rest[0]))
            elif function == 80:
                self._pdf417_data = rest[1:]
            elif function == 81:
                self._pdf417()
        elif function == 81:
            self._place_block(self._placeholder(f"2D symbol type {symbol} (not drawn)"))

    def _barcode(self, system: int, data: bytes) -> None:
        name, fmt = BARCODE_SYSTEMS[system]
        text = data.decode("latin-1")
        if fmt == "Code128" and text.startswith("{"):
            text = text[2:].replace("{{", "{")  # "{A"/"{B"/"{C" picks the code set
        bars = self._barcode_bars(fmt, text)
        self._page.barcodes.append((name, text))
        if bars is None:
            self._place_block(self._placeholder(f"{name} {text} (invalid data)", (360, 60)))
            return
        width = bars.width * self.style.barcode_module
        img = bars.resize((width, self.style.barcode_height), Image.Resampling.NEAREST)
        hri = self.style.barcode_hri
        if hri:
            cell_w, cell_h = FONT_CELLS[self.style.barcode_hri_font]
            label = Image.new("L", (max(width, cell_w * len(text)), cell_h), WHITE)
            start = (label.width - cell_w * len(text)) // 2
            for i, char in enumerate(text):
                label.paste(_glyph_cell(char, cell_w, cell_h, False), (start + i * cell_w, 0))
            parts = ([label] if hri in (1, 3) else []) + [img] + ([label] if hri in (2, 3) else [])
            combined = Image.new("L", (max(p.width for p in parts), sum(p.height for p in parts)), WHITE)
            y = 0
            for part in parts:
                combined.paste(part, ((combined.width - part.width) // 2, y))
                y += part.height
            img = combined
        self._place_block(img)

    @staticmethod
    def _barcode_bars(fmt: str, text: str) -> Image.Image | None:
        attempts = [text]
        if fmt in CHECK_DIGIT_LENGTHS and len(text) == CHECK_DIGIT_LENGTHS[fmt]:
            attempts.append(text[:-1])  # a printer prints a wrong check digit's data with its own
        for candidate in attempts:
            try:
                symbol = zxingcpp.create_barcode(candidate, getattr(zxingcpp.BarcodeFormat, fmt))
            except (ValueError, RuntimeError):
                continue
            row = Image.fromarray(symbol.to_image(scale=1, add_quiet_zones=False))
            return row.crop((0, row.height // 2, row.width, row.height // 2 + 1))
        return None

    def _raster(self, mode: int, width_bytes: int, height: int, data: bytes) -> None:
        rows = [data[r * width_bytes : (r + 1) * width_bytes] for r in range(height)]
        img = _bits_to_image(rows, width_bytes * 8)
        scale_x, scale_y = (2 if mode in (1, 3, 49, 51) else 1), (2 if mode in (2, 3, 50, 51) else 1)
        if scale_x > 1 or scale_y > 1:
            img = img.resize((img.width * scale_x, img.height * scale_y), Image.Resampling.NEAREST)
        self._place_block(img)

    def _column_image(self, mode: int, columns: int, data: bytes) -> None:
        per_column = 3 if mode >= 32 else 1
        img = _columns_to_image(data, columns, per_column)
        scale_x = 2 if mode in (0, 32) else 1
        scale_y = 3 if mode in (0, 1) else 1  # 8-dot modes have a coarser vertical pitch
        img = img.resize((img.width * scale_x, img.height * scale_y), Image.Resampling.NEAREST)
        self._add_piece(_Piece(img))

    def _graphics_command(self, data: bytes) -> None:
        if len(data) < 2:
            return
        function, body = data[1], data[2:]
        if function == 112 and len(body) >= 8:  # store raster graphics in the print buffer
            scale_x, scale_y = body[1], body[2]
            width, height = body[4] | body[5] << 8, body[6] | body[7] << 8
            width_bytes = (width + 7) // 8
            raster = body[8 : 8 + width_bytes * height]
            rows = [raster[r * width_bytes : (r + 1) * width_bytes] for r in range(height)]
            img = _bits_to_image(rows, width)
            self._graphics = img.resize((width * max(1, scale_x), height * max(1, scale_y)), Image.Resampling.NEAREST)
        elif function in (50, 2) and self._graphics is not None:  # print the buffered graphics
            self._place_block(self._graphics)
            self._graphics = None
        # other functions (NV graphics, density, capacity queries) leave the paper untouched

    def _define_user_chars(self, params: tuple[int, ...], data: bytes) -> None:
        rows_bytes, first, last = params
        cursor = 0
        for code in range(first, last + 1):
            columns = data[cursor]
            glyph = data[cursor + 1 : cursor + 1 + columns * rows_bytes]
            cursor += 1 + columns * rows_bytes
            self._user_chars[code] = _columns_to_image(glyph, columns, rows_bytes)

    def _cut(self, params: tuple[int, ...]) -> str:
        mode = params[0]
        if len(params) > 1:
            self._feed(params[1])
        return "partial" if mode in (1, 49, 66, 98, 104) else "full"

    # -- dispatch ---------------------------------------------------------------------------

    def apply(self, cmd: Command) -> str | None:
        """Apply one command; returns "full" or "partial" when it is a cut, else None."""
        style, p, name = self.style, cmd.params, cmd.name
        if name == "text":
            self._text(cmd.data)
        elif name in ("LF", "VT", "FF"):
            self._flush_line()
        elif name == "HT":
            self._tab()
        elif name == "BEL":
            self._page.beeps += 1
        elif name == "ESC @":
            self._flush_line(feed_if_empty=False)
            self.style = _Style(print_width=self.paper_width)
        elif name == "ESC !":
            style.font = p[0] & 1
            style.bold = bool(p[0] & 0x08)
            style.height = 2 if p[0] & 0x10 else 1
            style.width = 2 if p[0] & 0x20 else 1
            style.underline = 1 if p[0] & 0x80 else 0
        elif name == "GS !":
            style.width, style.height = (p[0] >> 4 & 7) + 1, (p[0] & 7) + 1
        elif name == "ESC E":
            style.bold = bool(p[0] & 1)
        elif name == "ESC G":
            style.double_strike = bool(p[0] & 1)
        elif name == "ESC -":
            style.underline = p[0] % 48 if p[0] % 48 <= 2 else 0
        elif name == "ESC M":
            style.font = 1 if p[0] in (1, 49) else 0
        elif name == "ESC a":
            style.align = p[0] % 48 if p[0] % 48 <= 2 else 0
        elif name == "ESC {":
            style.upside_down = bool(p[0] & 1)
        elif name == "GS B":
            style.reverse = bool(p[0] & 1)
        elif name == "ESC r":
            style.red = bool(p[0] & 1)
        elif name == "ESC SP":
            style.char_spacing = p[0]
        elif name == "ESC 2":
            style.line_spacing = DEFAULT_LINE_SPACING
        elif name == "ESC 3":
            style.line_spacing = p[0]
        elif name == "ESC +":
            style.line_spacing = p[0] // 2
        elif name == "ESC A":
            style.line_spacing = p[0] * 3
        elif name == "GS L":
            style.left_margin = p[0] | p[1] << 8
        elif name == "GS W":
            style.print_width = p[0] | p[1] << 8
        elif name == "ESC $":
            self._move_to(p[0] | p[1] << 8)
        elif name == "ESC \\":
            self._move_to(self._line_x + int.from_bytes(bytes(p), "little", signed=True))
        elif name == "ESC D":
            style.tabs = tuple(cmd.data)
        elif name == "ESC t":
            style.code_table = p[0]
        elif name == "FS &":
            style.chinese = True
        elif name == "FS .":
            style.chinese = False
        elif name == "FS !":
            style.kanji_double_w, style.kanji_double_h = bool(p[0] & 4), bool(p[0] & 8)
            style.kanji_underline = 1 if p[0] & 0x80 else 0
        elif name == "FS W":
            style.kanji_double_w = style.kanji_double_h = bool(p[0] & 1)
        elif name == "FS -":
            style.kanji_underline = p[0] % 48 if p[0] % 48 <= 2 else 0
        elif name == "ESC %":
            style.user_chars_on = bool(p[0] & 1)
        elif name == "ESC &":
            self._define_user_chars(p, cmd.data)
        elif name == "ESC ?":
            self._user_chars.pop(p[0], None)
        elif name == "ESC d":
            self._flush_line(feed_if_empty=False)
            self._y += p[0] * style.line_spacing
        elif name == "ESC J":
            self._feed(p[0])
        elif name == "ESC p" or (name == "DLE DC4" and p[0] == 1):
            self._page.drawer_pulses += 1
        elif name == "ESC B":
            self._page.beeps += max(1, p[0])
        elif name == "GS h":
            style.barcode_height = max(1, p[0])
        elif name == "GS w":
            style.barcode_module = max(1, min(6, p[0]))
        elif name == "GS H":
            style.barcode_hri = p[0] % 48 if p[0] % 48 <= 3 else 0
        elif name == "GS f":
            style.barcode_hri_font = 1 if p[0] in (1, 49) else 0
        elif name == "GS k":
            self._barcode(p[0], cmd.data)
        elif name == "GS ( k":
            self._two_d_code(cmd.data)
        elif name in ("GS ( L", "GS 8 L"):
            self._graphics_command(cmd.data)
        elif name == "GS v 0":
            self._raster(p[0], p[1], p[2], cmd.data)
        elif name == "ESC *":
            self._column_image(p[0], p[1], cmd.data)
        elif name == "GS *":
            self._downloaded = _columns_to_image(cmd.data, p[0] * 8, p[1])
        elif name == "GS /":
            if self._downloaded is not None:
                self._place_block(self._downloaded)
        elif name == "FS p":
            self._place_block(self._placeholder(f"stored logo {p[0]} (not drawn)"))
        elif name == "GS ( A":
            self._place_block(self._placeholder("self-test page"))
        elif name == "GS V":
            return self._cut(p)
        elif name in ("ESC i", "ESC m"):
            self._flush_line(feed_if_empty=False)
            return "full" if name == "ESC i" else "partial"
        # everything else the parser knows changes nothing on paper: status requests, paper
        # sensors, panel buttons, peripheral select, density, smoothing, page-mode settings
        return None


def render_commands(commands: list[Command]) -> RenderedPage:
    """Draw a whole stream on one page, marking each cut with a dashed line."""
    renderer = EscposRenderer()
    for cmd in commands:
        if renderer.apply(cmd) is not None:
            renderer.mark_cut()
    return renderer.take_page()
