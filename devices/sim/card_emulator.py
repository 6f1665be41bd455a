"""A contactless/contact card behind the virtual reader: our own card over vpcd's socket.

vsmartcard's vpcd driver (loaded by pcscd) listens on TCP, by default 35963 for the reader
"Virtual PCD 00 00" and 35964 for "Virtual PCD 00 01". A card "is inserted" while a client is
connected to that port. Framing both ways: a 2-byte big-endian length, then the bytes. From
vpcd, a one-byte message is a control message (0 power off, 1 power on, 2 reset, 4 get ATR;
only "get ATR" is answered); anything longer is a command APDU, answered by a response APDU.

Tests script it in-process::

    card = CardEmulator()               # the default MemoryCard
    card.insert()                       # connect to vpcd: pcscd sees a card
    card.set_handler([(b"\\x00\\xa4", b"\\x90\\x00")])   # rules: APDU prefix -> response
    card.stall_next(3.0)                # the next APDU is answered 3 s late
    card.pull_on_next_command()         # the next APDU closes the connection unanswered
    card.fail_next(b"\\x6f\\x00")         # the next APDU is answered with this status word
    card.remove()

Command line, for bench work (type insert / remove / quit on stdin)::

    python -m devices.sim.card_emulator [--host 127.0.0.1] [--port 35963] [--atr HEX]
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

VPCD_PORT = 35963  # vpcd's first reader, "Virtual PCD 00 00"
VIRTUAL_READER = "Virtual PCD 00 00"
VPCD_DRIVER = Path("/usr/lib/pcsc/drivers/serial/libifdvpcd.so")
PCSCD_PID_FILE = Path("/run/pcscd/pcscd.pid")
PCSCD_SOCKET = Path("/run/pcscd/pcscd.comm")

CTRL_POWER_OFF = 0
CTRL_POWER_ON = 1
CTRL_RESET = 2
CTRL_GET_ATR = 4

# A T=1 ATR with historical bytes "KIOSKCARD": what pcscd reports for the default card.
DEFAULT_ATR = bytes.fromhex("3B8980014B494F534B434152447F")
DEFAULT_AID = bytes.fromhex("F04B494F534B01")  # proprietary AID ("F0" + "KIOSK" + 01)

SW_OK = b"\x90\x00"
SW_WRONG_LENGTH = b"\x67\x00"
SW_SECURITY_NOT_SATISFIED = b"\x69\x82"
SW_NO_EF_SELECTED = b"\x69\x86"
SW_FILE_NOT_FOUND = b"\x6a\x82"
SW_WRONG_P1P2 = b"\x6b\x00"
SW_DATA_NOT_FOUND = b"\x6a\x88"
SW_INS_NOT_SUPPORTED = b"\x6d\x00"
SW_CLA_NOT_SUPPORTED = b"\x6e\x00"
SW_NO_PRECISE_DIAGNOSIS = b"\x6f\x00"

INS_SELECT = 0xA4
INS_READ_BINARY = 0xB0
INS_UPDATE_BINARY = 0xD6
INS_GET_DATA = 0xCA

CONNECT_TIMEOUT_S = 2.0
POLL_S = 0.1  # how often blocking waits look at the remove flag

Handler = Callable[[bytes], bytes]
Rule = tuple[bytes, bytes]  # APDU prefix -> response (data + SW)


def rules_handler(rules: Sequence[Rule], default: bytes = SW_INS_NOT_SUPPORTED) -> Handler:
    """A handler answering the first rule whose prefix starts the APDU; ``default`` otherwise."""
    frozen = [(bytes(prefix), bytes(response)) for prefix, response in rules]

    def handle(apdu: bytes) -> bytes:
        for prefix, response in frozen:
            if apdu.startswith(prefix):
                return response
        return default

    return handle


@dataclass
class ParsedApdu:
    cla: int
    ins: int
    p1: int
    p2: int
    data: bytes
    le: int | None  # None: no Le; 256 for a short Le of 0


def parse_apdu(apdu: bytes) -> ParsedApdu | None:
    """Short APDUs of ISO 7816-4 cases 1-4; None for anything else (extended length, garbage)."""
    if len(apdu) < 4:
        return None
    cla, ins, p1, p2 = apdu[:4]
    body = apdu[4:]
    if not body:
        return ParsedApdu(cla, ins, p1, p2, b"", None)
    if len(body) == 1:
        return ParsedApdu(cla, ins, p1, p2, b"", body[0] or 256)
    lc = body[0]
    if lc == 0:
        return None  # extended length: the default card does not speak it
    if len(body) == 1 + lc:
        return ParsedApdu(cla, ins, p1, p2, bytes(body[1:]), None)
    if len(body) == 2 + lc:
        return ParsedApdu(cla, ins, p1, p2, bytes(body[1 : 1 + lc]), body[-1] or 256)
    return None


@dataclass
class MemoryCard:
    """A tiny ISO 7816-4 card: one application, transparent files and data objects in memory.

    SELECT by AID (00 A4 04 00) selects the application; SELECT by file id (00 A4 00|02 ..)
    an EF in it; READ BINARY / UPDATE BINARY (offset in P1-P2) read and write the selected EF;
    GET DATA (00 CA, tag in P1-P2) returns a data object. The real year-card layout lives
    elsewhere; this card only gives tests something meaningful to talk to.
    """

    aid: bytes = DEFAULT_AID
    files: dict[int, bytearray] = field(default_factory=dict)  # file id -> contents
    data_objects: dict[int, bytes] = field(default_factory=dict)  # tag -> value
    _app_selected: bool = False
    _selected_file: int | None = None

    def reset(self) -> None:
        self._app_selected = False
        self._selected_file = None

    def __call__(self, apdu: bytes) -> bytes:
        cmd = parse_apdu(apdu)
        if cmd is None:
            return SW_WRONG_LENGTH
        if cmd.cla & 0x80:
            return SW_CLA_NOT_SUPPORTED
        if cmd.ins == INS_SELECT:
            return self._select(cmd)
        if cmd.ins == INS_GET_DATA:
            return self._get_data(cmd)
        if cmd.ins in (INS_READ_BINARY, INS_UPDATE_BINARY):
            return self._binary(cmd)
        return SW_INS_NOT_SUPPORTED

    def _select(self, cmd: ParsedApdu) -> bytes:
        if cmd.p1 == 0x04:
            if cmd.data != self.aid:
                return SW_FILE_NOT_FOUND
            self._app_selected, self._selected_file = True, None
            return SW_OK
        if cmd.p1 in (0x00, 0x02) and len(cmd.data) == 2:
            file_id = int.from_bytes(cmd.data, "big")
            if not self._app_selected or file_id not in self.files:
                return SW_FILE_NOT_FOUND
            self._selected_file = file_id
            return SW_OK
        return SW_WRONG_P1P2

    def _get_data(self, cmd: ParsedApdu) -> bytes:
        value = self.data_objects.get((cmd.p1 << 8) | cmd.p2)
        if value is None:
            return SW_DATA_NOT_FOUND
        return value[: cmd.le or len(value)] + SW_OK

    def _binary(self, cmd: ParsedApdu) -> bytes:
        if not self._app_selected:
            return SW_SECURITY_NOT_SATISFIED
        if self._selected_file is None:
            return SW_NO_EF_SELECTED
        if cmd.p1 & 0x80:
            return SW_WRONG_P1P2  # short file ids in P1 are not supported
        contents = self.files[self._selected_file]
        offset = (cmd.p1 << 8) | cmd.p2
        if cmd.ins == INS_READ_BINARY:
            if offset > len(contents):
                return SW_WRONG_P1P2
            return bytes(contents[offset : offset + (cmd.le or 256)]) + SW_OK
        if offset + len(cmd.data) > len(contents):
            return SW_WRONG_P1P2  # files have a fixed size, as on a real card
        contents[offset : offset + len(cmd.data)] = cmd.data
        return SW_OK


def default_card() -> MemoryCard:
    """The card tests get unless they install their own handler."""
    return MemoryCard(
        files={0x0001: bytearray(b"KIOSK-TEST-CARD".ljust(32, b"\x00")), 0x0002: bytearray(64)},
        data_objects={0x005A: b"\x10\x00\x00\x00\x00\x00\x00\x42"},  # 5A: a card number
    )


class CardEmulator:
    """A card that plugs into vpcd's socket. All methods are safe to call from any thread."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = VPCD_PORT,
        atr: bytes = DEFAULT_ATR,
        handler: Handler | Sequence[Rule] | None = None,
        auto_reconnect: bool = False,
    ) -> None:
        self.host = host
        self.port = port
        self.atr = atr
        # a real card stays in the reader when pcscd restarts: reconnect when vpcd drops us
        self.auto_reconnect = auto_reconnect
        self.commands: list[bytes] = []  # every APDU received, in order
        self.card: MemoryCard | None = None
        self._handler: Handler = self._install_default() if handler is None else self._as_handler(handler)
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._removed = threading.Event()  # set by remove(): the holder took the card out
        self._generation = 0  # bumped by insert/remove so a stale reconnect thread gives up
        self._stall_s = 0.0
        self._stall_skip = 0
        self._pull_next = False
        self._pull_skip = 0
        self._pull_executed = False
        self._fail_sw: bytes | None = None
        self._command_seen = threading.Condition(self._lock)

    # ---- scripting ----

    def set_handler(self, handler: Handler | Sequence[Rule] | None) -> None:
        """Answer APDUs with ``handler`` (a callable or a list of prefix rules); None: the default card."""
        new = self._install_default() if handler is None else self._as_handler(handler)
        with self._lock:
            self._handler = new

    def stall_next(self, seconds: float, skip: int = 0) -> None:
        """Answer the next APDU (after ``skip`` others) only after ``seconds``, not at all if removed
        meanwhile. The card does the command after the wait: a slow write, its answer too late."""
        if skip < 0:
            raise ValueError("skip is zero or more")
        with self._lock:
            self._stall_s, self._stall_skip = seconds, skip

    def pull_on_next_command(self) -> None:
        """Take the card out while the next APDU is being processed: close without answering."""
        self.pull_at_command(0)

    def pull_at_command(self, skip: int, executed: bool = False) -> None:
        """Let ``skip`` APDUs through, then take the card out on the next one, unanswered.

        ``executed=False``: the card leaves before that APDU reaches it (nothing done);
        ``executed=True``: the card does the command (a debit is written) and leaves before answering.
        """
        if skip < 0:
            raise ValueError("skip is zero or more")
        with self._lock:
            self._pull_next = True
            self._pull_skip = skip
            self._pull_executed = executed

    def fail_next(self, sw: bytes = SW_NO_PRECISE_DIAGNOSIS) -> None:
        """Answer the next APDU with this status word only (no data, nothing executed)."""
        if len(sw) != 2:
            raise ValueError("a status word is two bytes")
        with self._lock:
            self._fail_sw = bytes(sw)

    def wait_for_commands(self, count: int, timeout_s: float) -> bool:
        """Wait until at least ``count`` APDUs were received in total."""
        with self._command_seen:
            return self._command_seen.wait_for(lambda: len(self.commands) >= count, timeout=timeout_s)

    @property
    def inserted(self) -> bool:
        with self._lock:
            return self._sock is not None

    # ---- insert / remove ----

    def insert(self, timeout_s: float = CONNECT_TIMEOUT_S) -> None:
        """Connect to vpcd as a card does. Raises OSError when vpcd is not listening."""
        self.remove()
        self._removed.clear()
        self._attach(socket.create_connection((self.host, self.port), timeout=timeout_s))

    def remove(self) -> None:
        """Take the card out (close the connection); no-op when it is not inserted."""
        self._removed.set()
        with self._lock:
            self._generation += 1
            sock, self._sock = self._sock, None
            thread, self._thread = self._thread, None
        if sock is not None:
            _close(sock)
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=2.0)

    def _attach(self, sock: socket.socket) -> None:
        sock.settimeout(POLL_S)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        thread = threading.Thread(target=self._serve, args=(sock,), name="card-emulator", daemon=True)
        with self._lock:
            self._sock, self._thread = sock, thread
        _reset(self._handler)
        thread.start()

    # ---- serving ----

    def _serve(self, sock: socket.socket) -> None:
        try:
            while not self._removed.is_set():
                message = self._receive(sock)
                if message is None:
                    break
                if len(message) == 1:
                    self._control(sock, message[0])
                elif not self._command(sock, message):
                    return  # pulled: the card is out until insert()
        except OSError as exc:
            log.info("card emulator connection lost: %s", exc)
        self._dropped(sock)

    def _dropped(self, sock: socket.socket) -> None:
        """vpcd closed the connection (pcscd stopped) or the card was removed."""
        with self._lock:
            ours = self._sock is sock
            if ours:
                self._sock = None
            generation = self._generation
        _close(sock)
        if ours and self.auto_reconnect and not self._removed.is_set():
            threading.Thread(
                target=self._reconnect, args=(generation,), name="card-emulator-reconnect", daemon=True
            ).start()

    def _reconnect(self, generation: int) -> None:
        while not self._removed.wait(0.2) and self._generation == generation:
            try:
                sock = socket.create_connection((self.host, self.port), timeout=CONNECT_TIMEOUT_S)
            except OSError:
                continue
            if self._removed.is_set() or self._generation != generation:
                _close(sock)
                return
            log.info("card emulator reconnected to vpcd")
            self._attach(sock)
            return

    def _receive(self, sock: socket.socket) -> bytes | None:
        header = self._read_exact(sock, 2)
        if header is None:
            return None
        (length,) = struct.unpack(">H", header)
        return self._read_exact(sock, length)

    def _read_exact(self, sock: socket.socket, count: int) -> bytes | None:
        buffer = bytearray()
        while len(buffer) < count:
            if self._removed.is_set():
                return None
            try:
                chunk = sock.recv(count - len(buffer))
            except TimeoutError:
                continue
            _quick_ack(sock)
            if not chunk:
                return None
            buffer += chunk
        return bytes(buffer)

    def _control(self, sock: socket.socket, code: int) -> None:
        if code == CTRL_GET_ATR:
            _send(sock, self.atr)
        elif code in (CTRL_POWER_ON, CTRL_RESET, CTRL_POWER_OFF):
            _reset(self._handler)  # a power cycle forgets the selected application
        else:
            log.warning("card emulator: unknown control message %d", code)

    def _command(self, sock: socket.socket, apdu: bytes) -> bool:
        """Answer one APDU; False when the card was pulled instead."""
        with self._lock:
            self.commands.append(apdu)
            self._command_seen.notify_all()
            handler = self._handler
            if self._stall_s and self._stall_skip:
                stall, self._stall_skip = 0.0, self._stall_skip - 1
            else:
                stall, self._stall_s = self._stall_s, 0.0
            pull = self._pull_next and self._pull_skip == 0
            if self._pull_next and not pull:
                self._pull_skip -= 1
            else:
                self._pull_next = False
            executed = self._pull_executed
            fail, self._fail_sw = self._fail_sw, None
        if pull and not executed:
            self._pulled(sock)
            return False
        if stall and self._removed.wait(stall):
            return False
        if fail is not None:
            response = fail
        else:
            try:
                response = handler(apdu)
            except Exception:  # a broken test handler must not kill the card silently
                log.exception("card emulator handler failed on %s", apdu.hex())
                response = SW_NO_PRECISE_DIAGNOSIS
        if pull:
            self._pulled(sock)
            return False
        _send(sock, response)
        return True

    def _pulled(self, sock: socket.socket) -> None:
        with self._lock:
            if self._sock is sock:
                self._sock = None
        _close(sock)

    # ---- helpers ----

    def _install_default(self) -> Handler:
        self.card = default_card()
        return self.card

    @staticmethod
    def _as_handler(handler: Handler | Sequence[Rule]) -> Handler:
        return handler if callable(handler) else rules_handler(handler)


def _reset(handler: Handler) -> None:
    """Tell a card that keeps session state (selection, a purchase in progress) about a power cycle."""
    reset = getattr(handler, "reset", None)
    if callable(reset):
        reset()


def _quick_ack(sock: socket.socket) -> None:
    """Acknowledge at once: vpcd writes the length and the APDU separately, and with delayed ACKs
    Nagle holds its second write for ~40 ms, a delay a card in a real reader does not have."""
    if hasattr(socket, "TCP_QUICKACK"):  # Linux only; the kernel clears it again after each ACK
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)


def _send(sock: socket.socket, payload: bytes) -> None:
    sock.sendall(struct.pack(">H", len(payload)) + payload)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed by the other side
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


class PcscdError(RuntimeError):
    """pcscd could not be started or stopped."""


class PcscdProcess:
    """The pcscd that tests and the bench talk to: started here, or one already running.

    Only a pcscd started here is ever stopped or restarted by it (``owned``).
    """

    def __init__(self, log_path: Path | None = None) -> None:
        self.log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def owned(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @staticmethod
    def running_pid() -> int | None:
        """The pid of a live pcscd according to its pid file (pcscd pads the file with NULs)."""
        try:
            pid = int(PCSCD_PID_FILE.read_text(errors="replace").strip("\x00\n "))
            os.kill(pid, 0)
        except (OSError, ValueError):
            return None
        return pid

    def start(self, config_dir: Path | None = None, timeout_s: float = 10.0) -> None:
        """Start ``pcscd --foreground`` (with another reader.conf.d folder if given) and wait for its socket."""
        if self.owned:
            raise PcscdError("pcscd is already running from here")
        binary = shutil.which("pcscd") or "/usr/sbin/pcscd"
        command = [binary, "--foreground"]
        if config_dir is not None:
            command += ["--config", str(config_dir)]
        output = self.log_path.open("ab") if self.log_path else subprocess.DEVNULL
        try:
            self._process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
            )
        except OSError as exc:
            raise PcscdError(f"cannot start pcscd: {exc}") from exc
        finally:
            if self.log_path and not isinstance(output, int):
                output.close()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise PcscdError(f"pcscd exited at start with status {self._process.returncode}")
            if self.running_pid() == self._process.pid and PCSCD_SOCKET.exists():
                return
            time.sleep(0.05)
        self.stop()
        raise PcscdError(f"pcscd did not get ready within {timeout_s:.0f} s")

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the pcscd started here (no-op otherwise) and wait until it is gone."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=timeout_s)


def run_console(card: CardEmulator, prog: str) -> int:
    """Take insert / remove / quit from stdin for ``card`` until quit or Ctrl-C; 0 when done.

    With stdin closed (started in the background) it serves until interrupted.
    """
    try:
        for line in sys.stdin:
            command = line.strip().lower()
            if command == "quit":
                return 0
            if command == "remove":
                card.remove()
                print("card removed", file=sys.stderr)
            elif command == "insert":
                try:
                    card.insert()
                    print("card inserted", file=sys.stderr)
                except OSError as exc:
                    print(f"{prog}: cannot reach vpcd ({exc})", file=sys.stderr)
            elif command:
                print("commands: insert, remove, quit", file=sys.stderr)
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="A test card behind vsmartcard's virtual reader (vpcd).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=VPCD_PORT, help="vpcd's port (35963: 'Virtual PCD 00 00')")
    parser.add_argument("--atr", default=DEFAULT_ATR.hex(), help="the card's ATR in hex")
    args = parser.parse_args(argv)
    try:
        atr = bytes.fromhex(args.atr)
    except ValueError:
        print(f"card emulator: --atr is not hex: {args.atr!r}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    emulator = CardEmulator(args.host, args.port, atr=atr, auto_reconnect=True)
    try:
        emulator.insert()
    except OSError as exc:
        where = f"{args.host}:{args.port}"
        print(f"card emulator: cannot reach vpcd on {where} ({exc}); is pcscd running?", file=sys.stderr)
        return 1
    print("card inserted; commands: insert, remove, quit (Ctrl-C stops)", file=sys.stderr)
    try:
        return run_console(emulator, "card emulator")
    finally:
        emulator.remove()


if __name__ == "__main__":
    sys.exit(main())
