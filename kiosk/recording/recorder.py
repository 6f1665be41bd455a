"""The recorder: hooks at every input and output of a running kiosk, writing one session.

It is built with the runtime and stays attached, silent, until :meth:`Recorder.start`
(staff's switch, ``kiosk record``, a replay).  Hooks run on whatever thread the event
happens on (the main loop, the flow's worker, the monitor, the scanner); each event takes
its time from the kiosk's one clock and is written under one lock, so the session is one
ordered timeline.  A recorder's failure is logged and never reaches a pickup.
"""

from __future__ import annotations

import io
import logging
import math
import threading
from collections.abc import Callable
from datetime import UTC
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from PIL import Image

from backend_client.client import RequestInfo, ResponseInfo
from backend_client.tokens import looks_like_token
from devices.camera_api import DecodedCode
from devices.card_api import CardEvent
from kiosk.config import KioskConfig
from kiosk.host import KioskHost
from kiosk.observers import Observers
from kiosk.recording.card import CARD_SLOT, reader_identity, recorded_command
from kiosk.recording.session import (
    Event,
    SessionHeader,
    SessionWriter,
    app_version,
    b64,
    behaviour_config,
    config_digest,
    list_sessions,
    load_or_create_key,
)

log = logging.getLogger(__name__)

_RECORDED_LOGGERS = ("kiosk", "devices", "backend_client")
FRAME_MIN_GAP_S = 1.0  # at most one kept frame per second
SLOW_ANSWER_S = 0.5  # a central answer that took this long keeps its delay in the session


class RecordedKiosk(Protocol):
    """What the recorder needs of the running kiosk (kiosk.runner.KioskRuntime has it)."""

    services: Any  # kiosk.services.KioskServices
    host: KioskHost
    app: Any  # kiosk.app.KioskApp: its ``observers`` and ``shown``
    frames: Observers[[Any, list[DecodedCode]]]

    @property
    def worker_kind(self) -> str: ...

    def snapshot(self) -> dict[str, Any]: ...


class Recorder:
    def __init__(self, runtime: RecordedKiosk, config: KioskConfig, key_path: Path | None = None) -> None:
        self._runtime = runtime
        self._config = config.recording
        self._full_config = config
        self._key_path = key_path or Path(config.recording.key_file)
        self._clock = runtime.services.clock
        self._lock = threading.Lock()
        self._writer: SessionWriter | None = None
        self._folder: Path | None = None
        self._t0 = 0.0
        self._deadline = math.inf  # clock.monotonic() at which the session ends by itself
        self._log_handler: _EventLogHandler | None = None
        self._pending: tuple[Path | None, float, bool] | None = None  # waiting for the flow to be idle
        self._frames_kept = 0
        self._last_frame_t = -math.inf
        self._detector: Any = None
        self.kept: list[Event] | None = None  # every event written, when keep_events (a replay compares)
        self.on_stop: list[Callable[[Path], None]] = []
        self._attach()

    # -- the switch -----------------------------------------------------------------------

    @property
    def active(self) -> bool:
        return self._writer is not None

    @property
    def folder(self) -> Path | None:
        return self._folder

    def start(self, duration_s: float | None = None, folder: Path | None = None, *, from_start: bool = False,
              keep_events: bool = False) -> Path | None:
        """Start a session (in ``folder``, else a new one under ``recording.dir``).

        It stops by itself after ``duration_s`` (default ``recording.max_minutes``; ``math.inf``
        for never), measured on the kiosk's clock: the first event past that time (the one-second
        tick at the latest) closes the session instead of being written.  Started in the middle of
        a journey, it begins when the kiosk is next idle (returns None then).  ``from_start`` marks
        a session begun before the kiosk's start-up.
        """
        with self._lock:
            if self._writer is not None:
                return self._folder
        duration = self._config.max_minutes * 60 if duration_s is None else duration_s
        if not from_start and self._runtime.host.active is not None:
            self._pending = (folder, duration, keep_events)
            log.info("recording starts when the current journey ends")
            return None
        return self._begin(folder, duration, from_start, keep_events)

    def stop(self) -> Path | None:
        """Close the session; returns its folder (None when nothing was recording)."""
        with self._lock:
            writer, self._writer = self._writer, None
            self._deadline = math.inf
            self._pending = None
            folder = self._folder
        if self._log_handler is not None:
            logging.getLogger().removeHandler(self._log_handler)
            self._log_handler = None
        if writer is None:
            return None
        writer.close()
        log.info("recording stopped: %d events in %s", writer.events_written, folder)
        assert folder is not None
        for callback in self.on_stop:
            callback(folder)
        return folder

    def list_sessions(self) -> list[Path]:
        """Sessions kept under ``recording.dir`` (expired ones are deleted first)."""
        # Ages are those of the files on disk: the file system's time, not the kiosk's clock.
        return list_sessions(Path(self._config.dir), self._config.keep_days)

    # -- events ---------------------------------------------------------------------------

    def event(self, kind: str, **data: Any) -> None:
        writer = self._writer
        if writer is None:
            return
        now = self._clock.monotonic()
        if now >= self._deadline:
            self.stop()
            return
        try:
            with self._lock:
                if self._writer is None:
                    return
                event = Event(max(0.0, now - self._t0), kind, data)
                self._writer.write(event)
                if self.kept is not None:
                    self.kept.append(event)
        except Exception:  # a full disk must not stop the kiosk: recording ends, service goes on
            log.exception("recording failed; stopping it")
            threading.Thread(target=self.stop, daemon=True).start()

    def code(self, code: DecodedCode) -> None:
        self.event("qr", text=code.text, raw=code.raw.hex(), decoder=code.decoder)

    def card(self, card_event: CardEvent) -> None:
        self.event("card", event=card_event.kind.value, reader=card_event.reader, atr=card_event.atr.hex())

    def apdu(self, command: bytes, response: bytes | None, error: str | None = None, slot: str = CARD_SLOT) -> None:
        """For the card layer: every command APDU and its response (or the error), per reader slot.

        A command carrying a key in clear keeps only its header (``redacted``)."""
        shown, redacted = recorded_command(command)
        extra: dict[str, Any] = {}
        if slot != CARD_SLOT:
            extra["slot"] = slot
        if redacted:
            extra["redacted"] = True
        self.event("apdu", command=shown, response=response.hex() if response is not None else None,
                   error=error, **extra)

    def delivered(self) -> None:
        """A background job's callback (progress or result) reached the main loop."""
        self.event("deliver")

    # -- internals ------------------------------------------------------------------------

    def _begin(self, folder: Path | None, duration_s: float, from_start: bool, keep_events: bool) -> Path:
        folder = folder or self._new_session_folder()
        self.list_sessions()  # old sessions go before a new one is written
        key = load_or_create_key(self._key_path)
        header = self._header(from_start)
        writer = SessionWriter(folder, key, header, int(self._config.part_max_mb * (1 << 20)))
        with self._lock:
            self._t0 = self._clock.monotonic()
            self._folder = folder
            self._deadline = self._t0 + duration_s
            self._frames_kept = 0
            self._last_frame_t = -math.inf
            self.kept = [] if keep_events else None
            self._writer = writer
        self._log_handler = _EventLogHandler(self)
        logging.getLogger().addHandler(self._log_handler)
        log.info("recording to %s", folder)
        if not from_start:
            app = self._runtime.app
            if app.shown is not None:  # what the person sees as the session begins
                self.event("screen", screen=app.shown[0], detail=app.shown[1])
        return folder

    def _new_session_folder(self) -> Path:
        """A new folder under ``recording.dir``, named by the kiosk's clock (UTC), never one in use."""
        stem = Path(self._config.dir) / self._clock.wall().astimezone(UTC).strftime("%Y%m%d-%H%M%S-%f")
        folder, number = stem, 1
        while folder.exists():
            number += 1
            folder = stem.with_name(f"{stem.name}-{number}")
        return folder

    def _start_when_idle(self) -> None:
        pending = self._pending
        if pending is None or self._runtime.host.active is not None or self.active:
            return
        self._pending = None
        folder, duration, keep_events = pending
        self._begin(folder, duration, False, keep_events)

    def _header(self, from_start: bool) -> SessionHeader:
        runtime = self._runtime
        printer = runtime.services.printer.config
        connection = {
            "network": f"{printer.host}:{printer.port}",
            "usb": f"{printer.usb_vendor_id:04x}:{printer.usb_product_id:04x}",
            "serial": f"{printer.serial_device}@{printer.serial_baudrate}", "file": printer.file_path,
        }[printer.kind]
        devices: dict[str, Any] = {
            "printer": {"kind": printer.kind, "connection": connection, "profile": printer.profile or "default"},
            "camera": {"source": self._full_config.camera.source or "injected"},
            "card_reader": _card_identity(runtime),
        }
        if getattr(runtime.services, "face_checker", None) is not None:
            # the lost-ticket journey offered the face check: a replay gives it one answering as recorded
            devices["face"] = {"checker": type(getattr(runtime.services.face_checker, "inner",
                                                       runtime.services.face_checker)).__name__}
        psam = getattr(runtime.services, "psam", None)
        if psam is not None:  # the year-card journey is on: a replay gives the app a PSAM that answers as recorded
            devices["psam"] = {"name": self._full_config.card.psam_reader_name_pattern or "simulated PSAM"}
        return SessionHeader(
            app_version=app_version(),
            config_digest=config_digest(self._full_config),
            started_at=self._clock.wall().isoformat(),
            config=behaviour_config(self._full_config),
            devices=devices,
            worker=runtime.worker_kind,
            printer="scripted",
            from_start=from_start,
            snapshot={} if from_start else runtime.snapshot(),
        )

    def _attach(self) -> None:
        services = self._runtime.services
        services.client.observer = self._on_central
        services.printer.observer = self._on_printer
        services.on_timer.subscribe(lambda name: self.event("timer", name=name))
        services.on_health.subscribe(lambda device, health: self.event(
            "health", device=device, level=health.level.value, reason=health.reason))
        services.observe_card_traffic(self)
        services.observe_face(self)  # each face check's challenge and result; never a frame or an encoding
        self._runtime.host.subscribe(self._start_when_idle)  # a start asked for mid-journey
        if services.scanner is not None and self._config.camera_frames:
            self._runtime.frames.subscribe(self._on_frame)
        self._runtime.app.observers.subscribe(lambda kind, data: self.event(kind, **data))

    def _on_central(self, request: RequestInfo, response: ResponseInfo) -> None:
        if self._writer is None:
            return
        data: dict[str, Any] = {"method": request.method, "path": request.path, "attempt": request.attempt,
                                "headers": dict(request.headers)}
        data.update(_body_fields("body", request.body))
        data["status"] = response.status
        data.update(_body_fields("response", response.body))
        data["error"] = response.error
        if response.elapsed_s >= SLOW_ANSWER_S:  # a replay moves its clock by it (and times out past the limit)
            data["delay_s"] = round(response.elapsed_s, 3)
        self.event("central", **data)

    def _on_printer(self, what: str, details: dict[str, Any]) -> None:
        if self._writer is None:
            return
        self.event("printer", op=what, **{k: v.hex() if isinstance(v, bytes) else v for k, v in details.items()})

    def _on_frame(self, gray: np.ndarray, codes: list[DecodedCode]) -> None:
        """Keep a reduced frame around a failed decode: what a technician asks for (``camera_frames``).

        Failed: a QR symbol is seen but nothing was read (blurred, glare, cut off), or what was
        read is not one of ours (a foreign code).  Frames that read a kiosk token are never kept.
        """
        if self._writer is None or self._frames_kept >= self._config.frames_max:
            return
        if codes and any(looks_like_token(code.text.strip()) for code in codes):
            return
        now = self._clock.monotonic()
        if now - self._last_frame_t < FRAME_MIN_GAP_S:
            return
        if codes:
            reason = "foreign_code"
        elif self._symbol_seen(gray):
            reason = "qr_seen_not_read"
        else:
            return
        self._last_frame_t = now
        self._frames_kept += 1
        image = Image.fromarray(gray)
        image.thumbnail((self._config.frame_max_side, self._config.frame_max_side))
        buffer = io.BytesIO()
        image.save(buffer, format="PNG", optimize=True)
        self.event("frame", png=b64(buffer.getvalue()), reason=reason, size=[image.width, image.height])

    def _symbol_seen(self, gray: np.ndarray) -> bool:
        import cv2

        if self._detector is None:
            self._detector = cv2.QRCodeDetector()
        found, _points = self._detector.detect(gray)
        return bool(found)


def _body_fields(name: str, body: bytes | None) -> dict[str, Any]:
    """A JSON body as JSON (readable, comparable); anything else as text or base64."""
    if body is None:
        return {name: None}
    import json

    try:
        return {name: json.loads(body)}
    except (ValueError, UnicodeDecodeError):
        pass
    try:
        return {f"{name}_text": body.decode("utf-8")}
    except UnicodeDecodeError:
        return {f"{name}_b64": b64(body)}


def _card_identity(runtime: RecordedKiosk) -> dict[str, Any] | None:
    reader = runtime.services.card_reader
    if reader is None:
        return None
    inner = getattr(reader, "inner", reader)  # the configured reader inside the recording wrapper
    atr = reader.atr
    return {"kind": type(inner).__name__, "name": reader_identity(inner), "atr": atr.hex() if atr else None}


class _EventLogHandler(logging.Handler):
    """Warnings and errors of the kiosk's own code become "error" events."""

    def __init__(self, recorder: Recorder) -> None:
        super().__init__(logging.WARNING)
        self._recorder = recorder

    def emit(self, record: logging.LogRecord) -> None:
        if not record.name.startswith(_RECORDED_LOGGERS) or record.name.startswith("kiosk.recording"):
            return
        try:
            message = record.getMessage()
        except Exception:
            message = str(record.msg)
        self._recorder.event("error", level=record.levelname.lower(), logger=record.name, message=message[:500])
