"""The virtual ticket printer: an ESC/POS printer on TCP (like a network printer's port 9100).

It parses what arrives as it arrives, answers real-time status requests (DLE EOT 1..4) and the
in-sequence GS r with the state at the moment the request is reached, and draws each job (ended
by a cut, or by the connection closing) to ``job-NNNN.png`` (plus the job's bytes as
``job-NNNN.bin``) under its output folder. Tests and the technician script it in-process:

    printer = VirtualPrinter(out_dir=tmp_path)
    printer.start()                     # listens on printer.port
    printer.fail_after_cuts(2, Fault.PAPER_OUT)
    ...
    printer.stop()

Command line::

    python -m devices.sim.printer serve [--host 127.0.0.1] [--port 9100] [--out DIR]
    python -m devices.sim.printer render FILE.bin --out FILE.png

Simplifications, on purpose: one connection is served at a time (others wait in the listen
queue); bytes that arrive while the printer cannot print (paper out, cover open, offline) are
parsed but dropped, as if staff cleared the buffer when fixing the fault; GS r is answered even
in those states (a real printer may hold it until the fault is cleared).
"""

from __future__ import annotations

import argparse
import enum
import logging
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from devices.escpos_status import (
    EOT1_OFFLINE,
    EOT2_COVER_OPEN,
    EOT2_ERROR,
    EOT2_PAPER_END_STOP,
    EOT3_AUTO_RECOVERABLE_ERROR,
    EOT4_NEAR_END,
    EOT4_PAPER_END,
    EOT_FIXED_VALUE,
    GSR_NEAR_END,
    GSR_PAPER_END,
)
from devices.printer_api import PaperLevel
from devices.sim.escpos_parser import Command, EscposParseError, EscposParser, parse_all
from devices.sim.escpos_render import EscposRenderer, FontMissingError, RenderedPage, render_commands

log = logging.getLogger(__name__)

RECV_CHUNK = 4096
POLL_S = 0.1  # how often blocking loops look at the stop flag


class Fault(str, enum.Enum):
    PAPER_OUT = "paper_out"
    COVER_OPEN = "cover_open"
    OFFLINE = "offline"


@dataclass
class PrintedJob:
    """One job as the printer saw it."""

    index: int
    raw: bytes  # the job's printing bytes (status requests left out)
    png_path: Path | None
    texts: list[str] = field(default_factory=list)
    qr_payloads: list[str] = field(default_factory=list)
    pdf417_payloads: list[str] = field(default_factory=list)
    barcodes: list[tuple[str, str]] = field(default_factory=list)
    cut: str | None = None  # "full" / "partial"; None when the connection closed without a cut
    fault: Fault | None = None  # the fault that stopped it part way
    notes: list[str] = field(default_factory=list)

    @property
    def completed(self) -> bool:
        return self.cut is not None and self.fault is None


@dataclass
class _PendingFault:
    after_cuts: int  # total cut count at which the fault is armed
    fault: Fault
    bytes_into_next_job: int


# commands that ask for an answer in sequence with the print data
_SEQUENCED_QUERIES = frozenset({"GS r", "GS I", "ESC v", "ESC u"})


class VirtualPrinter:
    def __init__(self, host: str = "127.0.0.1", port: int = 0, out_dir: Path | str = "var/printer") -> None:
        self.host = host
        self.out_dir = Path(out_dir)
        self._requested_port = port
        self.port = 0
        self.jobs: list[PrintedJob] = []
        self._lock = threading.Lock()
        self._jobs_changed = threading.Condition(self._lock)
        self._paper = PaperLevel.OK
        self._cover_open = False
        self._offline = False
        self._delay_s = 0.0
        self._cuts = 0
        self._pending_fault: _PendingFault | None = None
        self._armed_bytes = 0
        self._stop = threading.Event()
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._renderer = EscposRenderer()
        self._next_index = 1
        self._job_raw = bytearray()
        self._job_fault: Fault | None = None
        # A fault that struck inside a job stops the printer: in-sequence queries (GS r) go
        # unanswered until the fault is cleared, as on a real printer with data still queued.
        self._halted = False
        self._job_notes: list[str] = []

    # -- scripting ------------------------------------------------------------------------

    def set_paper(self, level: PaperLevel | str) -> None:
        level = PaperLevel(level)
        if level is PaperLevel.UNKNOWN:
            raise ValueError("the virtual printer always knows its paper level")
        with self._lock:
            self._paper = level
            self._release_halt_locked()

    def set_cover_open(self, is_open: bool) -> None:
        with self._lock:
            self._cover_open = is_open
            self._release_halt_locked()

    def set_offline(self, offline: bool) -> None:
        with self._lock:
            self._offline = offline
            self._release_halt_locked()

    def set_delay(self, seconds: float) -> None:
        """Each job takes this long to print; requests behind it wait, as on a slow printer."""
        with self._lock:
            self._delay_s = max(0.0, seconds)

    def fail_after_cuts(self, n: int, fault: Fault | str, bytes_into_next_job: int = 0) -> None:
        """After ``n`` more cuts, ``fault`` strikes once ``bytes_into_next_job`` bytes of the next
        job have arrived; the job it strikes in is left unfinished and the printer halts.
        With 0 it strikes right at the n-th cut: that ticket is whole, the next cannot start."""
        with self._lock:
            self._pending_fault = _PendingFault(self._cuts + n, Fault(fault), bytes_into_next_job)
            self._armed_bytes = 0

    def clear_faults(self) -> None:
        with self._lock:
            self._paper, self._cover_open, self._offline = PaperLevel.OK, False, False
            self._pending_fault = None
            self._halted = False

    def _release_halt_locked(self) -> None:
        if self._paper is not PaperLevel.OUT and not self._cover_open and not self._offline:
            self._halted = False

    @property
    def cuts(self) -> int:
        with self._lock:
            return self._cuts

    def wait_for_jobs(self, count: int, timeout: float = 5.0) -> list[PrintedJob]:
        """Block until at least ``count`` jobs are stored (jobs ended by a closing connection
        are stored a moment after the client is done)."""
        deadline = time.monotonic() + timeout
        with self._jobs_changed:
            while len(self.jobs) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"virtual printer has {len(self.jobs)} jobs, expected {count}")
                self._jobs_changed.wait(remaining)
            return list(self.jobs)

    # -- life cycle -------------------------------------------------------------------------

    def start(self) -> VirtualPrinter:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self._next_index = 1 + len(list(self.out_dir.glob("job-*.png")))
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, self._requested_port))
        listener.listen(8)
        listener.settimeout(POLL_S)
        self._listener = listener
        self.port = listener.getsockname()[1]
        self._stop.clear()
        self._thread = threading.Thread(target=self._serve, name="virtual-printer", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._listener is not None:
            self._listener.close()
            self._listener = None

    def __enter__(self) -> VirtualPrinter:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- serving ------------------------------------------------------------------------------

    def _serve(self) -> None:
        assert self._listener is not None
        while not self._stop.is_set():
            try:
                conn, peer = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(POLL_S)
                log.info("virtual printer: connection from %s:%s", *peer)
                self._handle_connection(conn)

    def _handle_connection(self, conn: socket.socket) -> None:
        parser = EscposParser()
        stream = bytearray()
        try:
            while not self._stop.is_set():
                try:
                    chunk = conn.recv(RECV_CHUNK)
                except TimeoutError:
                    continue
                if not chunk:
                    break
                stream.extend(chunk)
                for cmd in parser.feed(chunk):
                    self._handle_command(cmd, bytes(stream[cmd.offset : cmd.offset + cmd.size]), conn)
            for cmd in parser.finish():
                self._handle_command(cmd, bytes(stream[cmd.offset : cmd.offset + cmd.size]), conn)
        except EscposParseError as err:
            # a real printer would print garbage; the bench wants to know exactly where
            log.error("virtual printer: %s; closing the connection", err)
            self._job_notes.append(str(err))
        except OSError as err:
            log.info("virtual printer: connection lost: %s", err)
        if self._job_raw:
            self._finish_job(cut=None)

    def _handle_command(self, cmd: Command, raw: bytes, conn: socket.socket) -> None:
        if cmd.realtime or cmd.name in _SEQUENCED_QUERIES:
            with self._lock:
                halted = self._halted
            if halted and not cmd.realtime:
                return  # queued behind data the halted printer has not processed
            answer = self._answer(cmd)
            if answer is not None:
                conn.sendall(answer)
            return
        self._job_raw.extend(raw)
        fault = self._advance_fault(len(raw))
        if fault is not None and self._job_fault is None:
            self._job_fault = fault
            with self._lock:
                self._halted = True
        if self._job_fault is not None:
            if cmd.name in ("GS V", "ESC i", "ESC m"):
                self._finish_job(cut=None)
            return
        cut = self._renderer.apply(cmd)
        if cut is not None:
            with self._lock:
                delay = self._delay_s
            if delay:
                time.sleep(delay)
            with self._lock:
                self._cuts += 1
                self._strike_at_cut_locked()
            self._finish_job(cut=cut)

    def _strike_at_cut_locked(self) -> None:
        pending = self._pending_fault
        if pending is not None and pending.bytes_into_next_job == 0 and self._cuts >= pending.after_cuts:
            self._pending_fault = None
            self._apply_fault_locked(pending.fault)

    def _apply_fault_locked(self, fault: Fault) -> None:
        if fault is Fault.PAPER_OUT:
            self._paper = PaperLevel.OUT
        elif fault is Fault.COVER_OPEN:
            self._cover_open = True
        else:
            self._offline = True

    def _advance_fault(self, size: int) -> Fault | None:
        """Apply a scheduled fault once its moment comes; return the fault that stops printing."""
        with self._lock:
            pending = self._pending_fault
            if pending is not None and self._cuts >= pending.after_cuts:
                self._armed_bytes += size
                if self._armed_bytes > pending.bytes_into_next_job:
                    self._pending_fault = None
                    self._apply_fault_locked(pending.fault)
            if self._paper is PaperLevel.OUT:
                return Fault.PAPER_OUT
            if self._cover_open:
                return Fault.COVER_OPEN
            if self._offline:
                return Fault.OFFLINE
            return None

    def status_byte(self, n: int) -> int:
        """The answer to DLE EOT n with the current state."""
        with self._lock:
            paper_out = self._paper is PaperLevel.OUT
            near_end = self._paper is PaperLevel.NEAR_END
            cover, offline = self._cover_open, self._offline
        value = EOT_FIXED_VALUE
        if n == 1 and (paper_out or cover or offline):
            value |= EOT1_OFFLINE
        elif n == 2:
            value |= (EOT2_COVER_OPEN if cover else 0) | (EOT2_PAPER_END_STOP if paper_out else 0)
            value |= EOT2_ERROR if offline else 0
        elif n == 3 and offline:
            value |= EOT3_AUTO_RECOVERABLE_ERROR
        elif n == 4:
            value |= (EOT4_NEAR_END if (near_end or paper_out) else 0) | (EOT4_PAPER_END if paper_out else 0)
        return value

    def _answer(self, cmd: Command) -> bytes | None:
        n = cmd.params[0] if cmd.params else 0
        if cmd.name == "DLE EOT" and n in (1, 2, 3, 4):
            return bytes([self.status_byte(n)])
        if cmd.name in ("GS r", "ESC v") and (n in (1, 49) or cmd.name == "ESC v"):
            with self._lock:
                paper = self._paper
            value = (GSR_PAPER_END | GSR_NEAR_END) if paper is PaperLevel.OUT else 0
            return bytes([value | (GSR_NEAR_END if paper is PaperLevel.NEAR_END else 0)])
        if cmd.name in ("GS r", "ESC u"):
            return b"\x00"  # drawer sensor: closed
        if cmd.name == "GS I":
            return {1: b"\x20", 2: b"\x02", 3: b"\x01", 49: b"\x20", 50: b"\x02", 51: b"\x01"}.get(n, b"\x00")
        return None  # DLE ENQ, DLE DC4: no answer

    def _reset_job(self) -> None:
        self._job_raw = bytearray()
        self._job_fault = None
        self._job_notes = []

    def _finish_job(self, cut: str | None) -> None:
        page: RenderedPage = self._renderer.take_page()
        index = self._next_index
        self._next_index += 1
        png_path = page.save(self.out_dir / f"job-{index:04d}.png")
        (self.out_dir / f"job-{index:04d}.bin").write_bytes(bytes(self._job_raw))
        job = PrintedJob(
            index=index,
            raw=bytes(self._job_raw),
            png_path=png_path,
            texts=page.texts,
            qr_payloads=page.qr_payloads,
            pdf417_payloads=page.pdf417_payloads,
            barcodes=page.barcodes,
            cut=cut if self._job_fault is None else None,
            fault=self._job_fault,
            notes=page.notes + self._job_notes,
        )
        log.info(
            "virtual printer: job %d, %d bytes, %s -> %s",
            index,
            len(job.raw),
            job.fault.value if job.fault else (cut or "no cut"),
            png_path,
        )
        self._reset_job()
        with self._jobs_changed:
            self.jobs.append(job)
            self._jobs_changed.notify_all()


# -- command line -------------------------------------------------------------------------------

_CONSOLE_HELP = """commands: paper ok|near_end|out, cover open|closed, offline on|off,
  fail-after N paper_out|cover_open|offline [BYTES], delay SECONDS, status, clear, quit"""


def _console(printer: VirtualPrinter) -> None:
    """Operator commands on stdin; EOF leaves the printer running until interrupted."""
    print(_CONSOLE_HELP, file=sys.stderr)
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        try:
            verb, args = words[0], words[1:]
            if verb == "quit":
                return
            if verb == "paper":
                printer.set_paper(args[0])
            elif verb == "cover":
                printer.set_cover_open(args[0] == "open")
            elif verb == "offline":
                printer.set_offline(args[0] == "on")
            elif verb == "fail-after":
                printer.fail_after_cuts(int(args[0]), args[1], int(args[2]) if len(args) > 2 else 0)
            elif verb == "delay":
                printer.set_delay(float(args[0]))
            elif verb == "clear":
                printer.clear_faults()
            elif verb != "status":
                raise ValueError(f"unknown command {verb!r}")
            states = {n: f"0x{printer.status_byte(n):02X}" for n in (1, 2, 3, 4)}
            print(f"DLE EOT answers {states}, cuts {printer.cuts}, jobs {len(printer.jobs)}", file=sys.stderr)
        except (IndexError, ValueError) as err:
            print(f"error: {err}\n{_CONSOLE_HELP}", file=sys.stderr)
    while True:
        time.sleep(3600)


def _serve_cli(args: argparse.Namespace) -> int:
    printer = VirtualPrinter(args.host, args.port, args.out)
    try:
        printer.start()
    except OSError as err:
        print(f"error: cannot listen on {args.host}:{args.port}: {err}", file=sys.stderr)
        return 2
    print(f"virtual printer listening on {printer.host}:{printer.port}, jobs go to {printer.out_dir}", file=sys.stderr)
    try:
        _console(printer)
    except KeyboardInterrupt:
        pass
    finally:
        printer.stop()
    return 0


def _render_cli(args: argparse.Namespace) -> int:
    try:
        data = Path(args.file).read_bytes()
    except OSError as err:
        print(f"error: cannot read {args.file}: {err.strerror}", file=sys.stderr)
        return 2
    try:
        page = render_commands(parse_all(data))
        page.save(Path(args.out))
    except EscposParseError as err:
        print(f"error: {args.file}: {err}", file=sys.stderr)
        return 1
    except FontMissingError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        print(f"error: cannot write {args.out}: {err.strerror}", file=sys.stderr)
        return 2
    summary = f"{args.out}: {page.image.width}x{page.image.height}, {len(page.texts)} text lines"
    if page.qr_payloads:
        summary += f", {len(page.qr_payloads)} QR"
    if page.notes:
        summary += f", placeholders: {'; '.join(page.notes)}"
    print(summary, file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devices.sim.printer", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="listen for ESC/POS jobs on TCP and render them")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=9100)
    serve.add_argument("--out", default="var/printer", help="folder for job-NNNN.png / .bin")
    render = sub.add_parser("render", help="render a file of ESC/POS bytes to a PNG")
    render.add_argument("file")
    render.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", force=True)
    return _serve_cli(args) if args.command == "serve" else _render_cli(args)


if __name__ == "__main__":
    sys.exit(main())
