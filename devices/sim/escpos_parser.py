"""An incremental ESC/POS parser: bytes in, commands out.

It knows every command python-escpos 3.1 emits and every command in the escpos-php sample
jobs (text styles, code pages, user-defined characters, barcodes, 2D codes, raster, column and
graphics images, margins, cuts, status requests). Bytes may arrive in any chunking: a command
split over several ``feed`` calls is held back until it is complete. A byte sequence it does not
know raises :class:`UnknownCommandError` naming the stream offset and the byte, so a renderer
never guesses silently.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

NUL, HT, LF, FF, CR, BEL, VT, CAN = 0x00, 0x09, 0x0A, 0x0C, 0x0D, 0x07, 0x0B, 0x18
DLE, ESC, FS, GS = 0x10, 0x1B, 0x1C, 0x1D

# Real-time commands (answered at once by a printer, never printed).
REALTIME_NAMES = frozenset({"DLE EOT", "DLE ENQ", "DLE DC4"})


class EscposParseError(ValueError):
    """The byte stream cannot be parsed."""


class UnknownCommandError(EscposParseError):
    def __init__(self, offset: int, data: bytes) -> None:
        self.offset = offset
        self.data = data
        shown = " ".join(f"{b:02X}" for b in data)
        super().__init__(f"unknown ESC/POS command at offset {offset} (0x{offset:X}): bytes {shown}")


class MalformedCommandError(EscposParseError):
    def __init__(self, offset: int, name: str, problem: str) -> None:
        self.offset = offset
        self.name = name
        self.problem = problem
        super().__init__(f"malformed {name} at offset {offset} (0x{offset:X}): {problem}")


class TruncatedCommandError(EscposParseError):
    def __init__(self, offset: int, data: bytes) -> None:
        self.offset = offset
        shown = " ".join(f"{b:02X}" for b in data[:8])
        super().__init__(
            f"stream ends inside a command at offset {offset} (0x{offset:X}): bytes {shown}"
            + (" ..." if len(data) > 8 else "")
        )


@dataclass(frozen=True)
class Command:
    """One parsed command. ``name`` is its mnemonic ("ESC !", "GS ( k", "text", "LF")."""

    name: str
    offset: int
    params: tuple[int, ...] = ()  # the fixed single-byte parameters after the command bytes
    data: bytes = b""  # variable payload (text bytes, image data, 2D-code data, ...)
    size: int = 0  # total bytes the command occupied in the stream

    @property
    def realtime(self) -> bool:
        return self.name in REALTIME_NAMES


# A spec gets the buffer and the position of the command's first byte and returns the
# command and its length, or None when more bytes are needed.
_Spec = Callable[[bytes, int, int, str], "tuple[Command, int] | None"]


def _fixed(n_params: int) -> _Spec:
    """Command of a fixed number of 1-byte parameters after a ``prefix_len``-byte opcode."""

    def parse(buf: bytes, pos: int, prefix_len: int, name: str) -> tuple[Command, int] | None:
        end = pos + prefix_len + n_params
        if len(buf) < end:
            return None
        params = tuple(buf[pos + prefix_len : end])
        return Command(name, 0, params, b"", end - pos), end - pos

    return parse


def _nul_terminated(max_len: int = 255) -> _Spec:
    def parse(buf: bytes, pos: int, prefix_len: int, name: str) -> tuple[Command, int] | None:
        start = pos + prefix_len
        end = buf.find(b"\x00", start, start + max_len + 1)
        if end < 0:
            if len(buf) - start > max_len:
                raise MalformedCommandError(pos, name, f"no NUL terminator within {max_len} bytes")
            return None
        return Command(name, 0, (), bytes(buf[start:end]), end + 1 - pos), end + 1 - pos

    return parse


def _length_prefixed(n_len_bytes: int) -> _Spec:
    """GS ( x pL pH / GS 8 L p1..p4: little-endian length, then ``length`` payload bytes."""

    def parse(buf: bytes, pos: int, prefix_len: int, name: str) -> tuple[Command, int] | None:
        head = pos + prefix_len
        if len(buf) < head + n_len_bytes:
            return None
        length = int.from_bytes(buf[head : head + n_len_bytes], "little")
        end = head + n_len_bytes + length
        if len(buf) < end:
            return None
        return Command(name, 0, (), bytes(buf[head + n_len_bytes : end]), end - pos), end - pos

    return parse


def _esc_star(buf: bytes, pos: int, prefix_len: int, name: str) -> tuple[Command, int] | None:
    # ESC * m nL nH d1..dk: k = n for 8-dot modes (0, 1), 3n for 24-dot modes (32, 33)
    head = pos + prefix_len
    if len(buf) < head + 3:
        return None
    mode, n = buf[head], buf[head + 1] | buf[head + 2] << 8
    if mode not in (0, 1, 32, 33):
        raise UnknownCommandError(pos, bytes(buf[pos : head + 1]))
    end = head + 3 + n * (3 if mode >= 32 else 1)
    if len(buf) < end:
        return None
    return Command(name, 0, (mode, n), bytes(buf[head + 3 : end]), end - pos), end - pos


def _esc_ampersand(buf: bytes, pos: int, prefix_len: int, name: str) -> tuple[Command, int] | None:
    # ESC & y c1 c2 [x d1..d(y*x)] for each character c1..c2
    head = pos + prefix_len
    if len(buf) < head + 3:
        return None
    y, c1, c2 = buf[head], buf[head + 1], buf[head + 2]
    if c2 < c1:
        raise MalformedCommandError(pos, name, f"last character {c2} before first {c1}")
    cursor = head + 3
    for _ in range(c2 - c1 + 1):
        if len(buf) <= cursor:
            return None
        cursor += 1 + y * buf[cursor]
    if len(buf) < cursor:
        return None
    return Command(name, 0, (y, c1, c2), bytes(buf[head + 3 : cursor]), cursor - pos), cursor - pos


def _esc_d(buf: bytes, pos: int, prefix_len: int, name: str) -> tuple[Command, int] | None:
    return _nul_terminated(33)(buf, pos, prefix_len, name)


def _gs_v0(buf: bytes, pos: int, prefix_len: int, name: str) -> tuple[Command, int] | None:
    # GS v 0 m xL xH yL yH d1..dk, k = x * y
    head = pos + prefix_len
    if len(buf) < head + 5:
        return None
    mode = buf[head]
    x, y = buf[head + 1] | buf[head + 2] << 8, buf[head + 3] | buf[head + 4] << 8
    end = head + 5 + x * y
    if len(buf) < end:
        return None
    return Command(name, 0, (mode, x, y), bytes(buf[head + 5 : end]), end - pos), end - pos


def _gs_star(buf: bytes, pos: int, prefix_len: int, name: str) -> tuple[Command, int] | None:
    # GS * x y d1..d(x*y*8): define downloaded bit image
    head = pos + prefix_len
    if len(buf) < head + 2:
        return None
    x, y = buf[head], buf[head + 1]
    end = head + 2 + x * y * 8
    if len(buf) < end:
        return None
    return Command(name, 0, (x, y), bytes(buf[head + 2 : end]), end - pos), end - pos


def _gs_v_cut(buf: bytes, pos: int, prefix_len: int, name: str) -> tuple[Command, int] | None:
    # GS V m (m = 0, 1, 48, 49) or GS V m n (m = 65, 66, 97, 98, 103, 104)
    head = pos + prefix_len
    if len(buf) <= head:
        return None
    mode = buf[head]
    if mode in (0, 1, 48, 49):
        return Command(name, 0, (mode,), b"", prefix_len + 1), prefix_len + 1
    if mode in (65, 66, 97, 98, 103, 104):
        if len(buf) <= head + 1:
            return None
        return Command(name, 0, (mode, buf[head + 1]), b"", prefix_len + 2), prefix_len + 2
    raise UnknownCommandError(pos, bytes(buf[pos : head + 1]))


def _gs_k(buf: bytes, pos: int, prefix_len: int, name: str) -> tuple[Command, int] | None:
    # GS k m d1..dk NUL (m = 0..6) or GS k m n d1..dn (m = 65..79)
    head = pos + prefix_len
    if len(buf) <= head:
        return None
    system = buf[head]
    if system <= 6:
        found = _nul_terminated(255)(buf, pos, prefix_len + 1, name)
        if found is None:
            return None
        cmd, size = found
        return Command(name, 0, (system,), cmd.data, size), size
    if 65 <= system <= 79:
        if len(buf) <= head + 1:
            return None
        n = buf[head + 1]
        end = head + 2 + n
        if len(buf) < end:
            return None
        return Command(name, 0, (system,), bytes(buf[head + 2 : end]), end - pos), end - pos
    raise UnknownCommandError(pos, bytes(buf[pos : head + 1]))


def _dle_dc4(buf: bytes, pos: int, prefix_len: int, name: str) -> tuple[Command, int] | None:
    # DLE DC4 fn ...: 1 = pulse (m t), 2 = power off (1 8), 8 = clear buffer (1 3 20 1 6 2 8)
    head = pos + prefix_len
    if len(buf) <= head:
        return None
    extra = {1: 2, 2: 2, 7: 2, 8: 7}.get(buf[head])
    if extra is None:
        raise UnknownCommandError(pos, bytes(buf[pos : head + 1]))
    end = head + 1 + extra
    if len(buf) < end:
        return None
    return Command(name, 0, tuple(buf[head:end]), b"", end - pos), end - pos


def _esc_c(buf: bytes, pos: int, prefix_len: int, name: str) -> tuple[Command, int] | None:
    # ESC c 0|1|3|4|5 n: paper type, sensors, panel buttons
    head = pos + prefix_len
    if len(buf) < head + 2:
        return None
    if buf[head] not in b"01345":
        raise UnknownCommandError(pos, bytes(buf[pos : head + 1]))
    return Command(name, 0, (buf[head], buf[head + 1]), b"", prefix_len + 2), prefix_len + 2


_SINGLE: dict[int, str] = {
    NUL: "NUL",
    HT: "HT",
    LF: "LF",
    FF: "FF",
    CR: "CR",
    BEL: "BEL",
    VT: "VT",
    CAN: "CAN",
}

_ESC: dict[int, tuple[str, _Spec]] = {
    0x20: ("ESC SP", _fixed(1)),
    0x21: ("ESC !", _fixed(1)),
    0x24: ("ESC $", _fixed(2)),
    0x25: ("ESC %", _fixed(1)),
    0x26: ("ESC &", _esc_ampersand),
    0x2A: ("ESC *", _esc_star),
    0x2B: ("ESC +", _fixed(1)),
    0x2D: ("ESC -", _fixed(1)),
    0x32: ("ESC 2", _fixed(0)),
    0x33: ("ESC 3", _fixed(1)),
    0x3C: ("ESC <", _fixed(0)),
    0x3D: ("ESC =", _fixed(1)),
    0x3F: ("ESC ?", _fixed(1)),
    0x40: ("ESC @", _fixed(0)),
    0x41: ("ESC A", _fixed(1)),
    0x42: ("ESC B", _fixed(2)),
    0x44: ("ESC D", _esc_d),
    0x45: ("ESC E", _fixed(1)),
    0x47: ("ESC G", _fixed(1)),
    0x4A: ("ESC J", _fixed(1)),
    0x4B: ("ESC K", _fixed(1)),
    0x4C: ("ESC L", _fixed(0)),
    0x4D: ("ESC M", _fixed(1)),
    0x52: ("ESC R", _fixed(1)),
    0x53: ("ESC S", _fixed(0)),
    0x54: ("ESC T", _fixed(1)),
    0x55: ("ESC U", _fixed(1)),
    0x56: ("ESC V", _fixed(1)),
    0x57: ("ESC W", _fixed(8)),
    0x5C: ("ESC \\", _fixed(2)),
    0x61: ("ESC a", _fixed(1)),
    0x63: ("ESC c", _esc_c),
    0x64: ("ESC d", _fixed(1)),
    0x65: ("ESC e", _fixed(1)),
    0x69: ("ESC i", _fixed(0)),
    0x6D: ("ESC m", _fixed(0)),
    0x70: ("ESC p", _fixed(3)),
    0x72: ("ESC r", _fixed(1)),
    0x74: ("ESC t", _fixed(1)),
    0x75: ("ESC u", _fixed(1)),
    0x76: ("ESC v", _fixed(0)),
    0x7B: ("ESC {", _fixed(1)),
}

_GS: dict[int, tuple[str, _Spec]] = {
    0x21: ("GS !", _fixed(1)),
    0x24: ("GS $", _fixed(2)),
    0x2A: ("GS *", _gs_star),
    0x2F: ("GS /", _fixed(1)),
    0x3A: ("GS :", _fixed(0)),
    0x42: ("GS B", _fixed(1)),
    0x48: ("GS H", _fixed(1)),
    0x49: ("GS I", _fixed(1)),
    0x4C: ("GS L", _fixed(2)),
    0x50: ("GS P", _fixed(2)),
    0x56: ("GS V", _gs_v_cut),
    0x57: ("GS W", _fixed(2)),
    0x5C: ("GS \\", _fixed(2)),
    0x5E: ("GS ^", _fixed(3)),
    0x61: ("GS a", _fixed(1)),
    0x62: ("GS b", _fixed(1)),
    0x66: ("GS f", _fixed(1)),
    0x68: ("GS h", _fixed(1)),
    0x6B: ("GS k", _gs_k),
    0x72: ("GS r", _fixed(1)),
    0x77: ("GS w", _fixed(1)),
    0x7C: ("GS |", _fixed(1)),
}

# GS ( x pL pH ...: the function families a receipt printer offers
_GS_PAREN = {ord(c): f"GS ( {c}" for c in "ACDEHKLMNPQk"}
_FS_PAREN = {ord(c): f"FS ( {c}" for c in "ACEL"}

_FS: dict[int, tuple[str, _Spec]] = {
    0x21: ("FS !", _fixed(1)),
    0x26: ("FS &", _fixed(0)),
    0x2D: ("FS -", _fixed(1)),
    0x2E: ("FS .", _fixed(0)),
    0x43: ("FS C", _fixed(1)),
    0x53: ("FS S", _fixed(2)),
    0x57: ("FS W", _fixed(1)),
    0x70: ("FS p", _fixed(2)),
}

_DLE: dict[int, tuple[str, _Spec]] = {
    0x04: ("DLE EOT", _fixed(1)),
    0x05: ("DLE ENQ", _fixed(1)),
    0x14: ("DLE DC4", _dle_dc4),
}


@dataclass
class EscposParser:
    """Feed bytes as they arrive; get complete commands back in stream order."""

    offset: int = 0  # stream offset of the first byte still buffered
    _buf: bytearray = field(default_factory=bytearray)

    def feed(self, data: bytes) -> list[Command]:
        self._buf.extend(data)
        out: list[Command] = []
        pos = 0
        buf = bytes(self._buf)
        while pos < len(buf):
            # the command parsers report buffer positions: turn them into stream offsets
            try:
                found = self._parse_one(buf, pos)
            except UnknownCommandError as err:
                raise UnknownCommandError(self.offset + err.offset, err.data) from None
            except MalformedCommandError as err:
                raise MalformedCommandError(self.offset + err.offset, err.name, err.problem) from None
            if found is None:
                break
            cmd, size = found
            out.append(Command(cmd.name, self.offset + pos, cmd.params, cmd.data, size))
            pos += size
        del self._buf[:pos]
        self.offset += pos
        return out

    def finish(self) -> list[Command]:
        """The stream ended: return trailing text; anything else still buffered is cut off."""
        if not self._buf:
            return []
        if self._buf[0] >= 0x20:  # only a text run can be held back whole
            text = bytes(self._buf)
            cmd = Command("text", self.offset, (), text, len(text))
            self.offset += len(text)
            self._buf.clear()
            return [cmd]
        raise TruncatedCommandError(self.offset, bytes(self._buf))

    @property
    def pending(self) -> int:
        return len(self._buf)

    def _parse_one(self, buf: bytes, pos: int) -> tuple[Command, int] | None:
        lead = buf[pos]
        if lead >= 0x20:
            end = pos + 1
            while end < len(buf) and buf[end] >= 0x20:
                end += 1
            if end == len(buf):
                return None  # the run may go on (and a double-byte character may be split)
            return Command("text", 0, (), bytes(buf[pos:end]), end - pos), end - pos
        if lead in _SINGLE:
            return Command(_SINGLE[lead], 0, (), b"", 1), 1
        table: dict[int, tuple[str, _Spec]] | None = {ESC: _ESC, GS: _GS, FS: _FS, DLE: _DLE}.get(lead)
        if table is None:
            raise UnknownCommandError(pos, bytes(buf[pos : pos + 1]))
        if len(buf) < pos + 2:
            return None
        second = buf[pos + 1]
        if lead in (GS, FS) and second == 0x28:  # GS ( x / FS ( x
            if len(buf) < pos + 3:
                return None
            families = _GS_PAREN if lead == GS else _FS_PAREN
            name = families.get(buf[pos + 2])
            if name is None:
                raise UnknownCommandError(pos, bytes(buf[pos : pos + 3]))
            return _length_prefixed(2)(buf, pos, 3, name)
        if lead == GS and second == 0x38:  # GS 8 L: graphics with a 4-byte length
            if len(buf) < pos + 3:
                return None
            if buf[pos + 2] != 0x4C:
                raise UnknownCommandError(pos, bytes(buf[pos : pos + 3]))
            return _length_prefixed(4)(buf, pos, 3, "GS 8 L")
        if lead == GS and second == 0x76:  # GS v 0
            if len(buf) < pos + 3:
                return None
            if buf[pos + 2] != 0x30:
                raise UnknownCommandError(pos, bytes(buf[pos : pos + 3]))
            return _gs_v0(buf, pos, 3, "GS v 0")
        entry = table.get(second)
        if entry is None:
            raise UnknownCommandError(pos, bytes(buf[pos : pos + 2]))
        name, spec = entry
        return spec(buf, pos, 2, name)


def parse_all(data: bytes) -> list[Command]:
    """Parse a complete job; raises on an unknown or cut-off command."""
    parser = EscposParser()
    return parser.feed(data) + parser.finish()
