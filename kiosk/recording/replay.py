"""Replay: the real kiosk application on a recorded session's inputs, on a virtual clock.

Everything the kiosk does in service on its own threads is driven here from the session's
timeline, on one thread: touches, keys and decoded codes go in where they were recorded;
the one-second tick and the monitor's rounds fire at their recorded instants; the flow's
background jobs run one step at a time on a worker whose callbacks reach the main loop
at the recorded "deliver" events.  The central is answered by the client's transport
from the recorded responses (in order, per route); the printer by a scripted connection
from the recorded status replies (or, for hand-written scenarios, by the virtual printer
on TCP, scripted by "fault" events).

The replay records itself (``OUT/session``, the same format) and compares that with the
session: the screens shown, the bytes sent to the printer, the requests sent to the
central (idempotency keys, claim grants, nonces and times normalised).  A recorded fault that comes
out the same is a match.

By concern: the central's recorded answers (:mod:`kiosk.recording.recorded_central`), the
printer's (:mod:`kiosk.recording.scripted_printer`), device health
(:mod:`kiosk.recording.recorded_health`), the stepped worker (:mod:`kiosk.recording.stepped_worker`)
and the comparison (:mod:`kiosk.recording.compare`); this module plays the timeline.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from devices.camera_api import DecodedCode
from devices.qr import decode_frame
from devices.sim.escpos_parser import EscposParseError, parse_all
from devices.sim.escpos_render import render_commands
from devices.sim.faults import black_frame, glare_frame
from devices.sim.printer import Fault, VirtualPrinter
from kiosk.clock import VirtualClock
from kiosk.config import KioskConfig
from kiosk.recording.card import PSAM_SLOT, ReplayCardReader, apdu_slot
from kiosk.recording.compare import Difference, first_difference, screen_name, streams
from kiosk.recording.face import FACE, ReplayFaceChecker
from kiosk.recording.recorded_central import REPLAY_CENTRAL_URL, RecordedCentral
from kiosk.recording.recorded_health import RecordedHealth
from kiosk.recording.scripted_printer import ScriptedPrinter
from kiosk.recording.session import (
    PLAIN_SUFFIX,
    Event,
    Session,
    SessionError,
    app_version,
    config_digest,
    load_key,
    read_session,
)
from kiosk.recording.stepped_worker import ReplayStuck, SteppedWorker, SteppedWorkerFacade

log = logging.getLogger(__name__)

REPLAY_CREDENTIAL = "replay.bench-credential"
ANY = "any"  # hand-written scenarios: any app version / config


class ReplayRefused(Exception):
    """The session was recorded by another app version or configuration (``--force`` goes on)."""


@dataclass
class ReplayResult:
    match: bool
    difference: Difference | None
    screens: list[str]
    tickets: list[str]
    errors: list[str]
    notes: list[str]
    session_out: Path
    counts: dict[str, int] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"match": self.match,
                "first_difference": dataclasses.asdict(self.difference) if self.difference else None,
                "screens": self.screens, "tickets": self.tickets, "errors": self.errors, "notes": self.notes,
                "session": str(self.session_out), "counts": self.counts}


# -- scenario-only inputs: frames through the kiosk's QR decoder ---------------------------------------

_SCENARIO_FRAMES: dict[str, Callable[[], Any]] = {"black": black_frame, "glare": glare_frame}


def _decode_frames(event: Event, runtime: Any, notes: list[str]) -> None:
    """``{"kind": "camera", "frames": "black" | "glare", "count": N}``: N such frames are decoded as the
    scanner decodes them; whatever is read reaches the flow (a false read shows as a screen that differs)."""
    fill = _SCENARIO_FRAMES.get(str(event.data.get("frames")))
    if fill is None:
        notes.append(f"t={event.t:.3f}: unknown scenario frames {event.data.get('frames')!r} "
                     f"(known: {', '.join(_SCENARIO_FRAMES)})")
        return
    for _ in range(int(event.data.get("count", 1))):
        for code in decode_frame(fill()):
            runtime.deliver_code(code)


# -- the replay ------------------------------------------------------------------------------------


@dataclass
class ReplayOptions:
    out_dir: Path
    key_path: Path | None = None
    speed: float = math.inf  # recorded seconds per real second; inf: as fast as it goes
    force: bool = False
    screenshots: bool = True
    # Called after each recorded event is played, with the runtime: a bench plays here what no
    # journey of the kiosk does yet (the card layer's tests send their APDUs through the reader).
    after_event: Callable[[Event, Any], None] | None = None


def load_for_replay(location: Path, config: KioskConfig, key_path: Path | None, force: bool) -> Session:
    """Read a session and check it was recorded by this app and configuration."""
    encrypted = not (location.suffix == PLAIN_SUFFIX or (location.is_dir() and not any(location.glob("part-*"))))
    key = load_key(key_path or Path(config.recording.key_file)) if encrypted else None
    session = read_session(location, key)
    header = session.header
    plain = not encrypted
    problems = []
    if header.app_version != app_version() and not (plain and header.app_version == ANY):
        problems.append(f"it was recorded by app version {header.app_version}, this is {app_version()}")
    if header.config_digest != config_digest(config) and not (plain and header.config_digest == ANY):
        problems.append(f"its configuration (digest {header.config_digest}) is not this one "
                        f"({config_digest(config)}); the recorded settings are in its header")
    if problems and not force:
        raise ReplayRefused(f"{location}: " + "; ".join(problems) + ". Use --force to replay anyway.")
    return session


def replay(session: Session, config: KioskConfig, options: ReplayOptions) -> ReplayResult:
    """Replay ``session`` on the real app (Kivy must be set up: see kiosk.cli)."""
    from kivy.base import EventLoop
    from kivy.core.window import Window
    from kivy.tests.common import UnitTestTouch

    from kiosk.runner import KioskRuntime
    from kiosk.services import ServiceHooks
    from kiosk.ui_driver import UiDriver, UiDriverError

    out = options.out_dir.resolve()
    for name in ("kiosk", "session", "tickets", "screens"):
        shutil.rmtree(out / name, ignore_errors=True)
    (out / "kiosk").mkdir(parents=True)
    header = session.header
    notes: list[str] = list(session.warnings)
    trust_cache = header.snapshot.get("trust_cache") if not header.from_start else None
    if trust_cache:
        (out / "kiosk" / "trust.json").write_text(json.dumps(trust_cache), encoding="utf-8")

    if header.config_digest == ANY and header.config:  # a hand-written scenario's own settings
        config = with_settings(config, header.config, session.source)
    clock = VirtualClock(header.started)
    central = RecordedCentral(session.of_kind("central"), notes, clock)
    http = requests.Session()
    http.mount("http://", central)
    printer_events = session.of_kind("printer")
    virtual_printer: VirtualPrinter | None = None
    scripted: ScriptedPrinter | None = None
    if header.printer == "virtual":
        virtual_printer = VirtualPrinter(out_dir=out / "tickets").start()
    else:
        scripted = ScriptedPrinter(printer_events, notes)
    replay_config = _replay_config(config, out, options.key_path,
                                   virtual_printer.port if virtual_printer is not None else 9)
    stepped: list[SteppedWorker] = []

    def worker_factory(deliver: Callable[[Callable[[], None]], None]) -> Any:
        if header.worker == "inline":
            from kiosk.flows.runtime import InlineWorker

            return InlineWorker()
        stepped.append(SteppedWorker(deliver))
        return SteppedWorkerFacade(stepped[0])

    card_reader = ReplayCardReader(session.of_kind("card", "apdu"), notes)
    # A session recorded with a PSAM (the year-card journey on) is replayed with one answering as recorded.
    psam = ReplayCardReader(session.of_kind("apdu"), notes, slot=PSAM_SLOT) if header.devices.get("psam") or any(
        apdu_slot(e) == PSAM_SLOT for e in session.of_kind("apdu")) else None
    health = RecordedHealth(header.snapshot if not header.from_start else {}, notes)
    # A session with face checks is replayed with their recorded results (a placeholder encoding:
    # the central's recorded verdicts decide, as they did); none is run on a camera.
    face = ReplayFaceChecker(session.of_kind(FACE), notes) \
        if header.devices.get("face") or session.of_kind(FACE) else None
    hooks = ServiceHooks(clock=clock, credential=REPLAY_CREDENTIAL, http_session=http,
                         printer_connect=scripted.connect if scripted is not None else None,
                         background_threads=False, card_reader=card_reader, psam_reader=psam, device_health=health,
                         face_checker=face, face_challenge=face.next_challenge if face is not None else None,
                         camera_face_check=False)  # a kiosk recorded without a face check is replayed without one
    runtime = KioskRuntime(replay_config, injected_camera=True, hooks=hooks, worker=worker_factory,
                           self_ticking=False, resume_from=None if header.from_start else header.snapshot)
    driver = UiDriver(runtime.app)
    screens: list[str] = []
    difference: Difference | None = None
    recorder = runtime.recorder
    try:
        recorder.start(math.inf, out / "session", from_start=header.from_start, keep_events=True)
        if header.from_start:
            runtime.start()
        assert runtime.services.card_reader is not None  # the replayed reader, wrapped by the recorder
        runtime.services.card_reader.start(runtime.on_card)  # no reader thread here: the timeline feeds it
        runtime.app.start_headless()
        shown = _snap(driver, out, screens, None, options.screenshots)
        previous_t = 0.0
        for event in session.events:
            _pace(EventLoop, event.t - previous_t, options.speed)
            previous_t = event.t
            clock.set_elapsed(event.t)
            try:
                bench = _Bench(stepped[0] if stepped else None, virtual_printer, card_reader, health, notes, face)
                _play(event, runtime, driver, bench, Window, UnitTestTouch)
                if options.after_event is not None:
                    options.after_event(event, runtime)
            except (ReplayStuck, UiDriverError) as exc:
                difference = Difference("inputs", 0, event.t, event.describe(), f"cannot replay it: {exc}")
                break
            shown = _snap(driver, out, screens, shown, options.screenshots)
        driver.pump(1)
    finally:
        recorder.stop()
        runtime.app.stop_headless()
        runtime.stop()
        if virtual_printer is not None:
            virtual_printer.stop()
    replayed = recorder.kept or []
    if difference is None:
        difference = first_difference(session.events, replayed)
    tickets = _tickets(replayed, out / "tickets", virtual_printer)
    errors = [f"t={e.t:.3f} {e.data.get('logger')}: {e.data.get('message')}" for e in replayed if e.kind == "error"]
    counts = {name: len(events) for name, events in streams(replayed).items()}
    if central.unanswered():
        notes.append(f"{central.unanswered()} recorded central answer(s) were never asked for")
    if card_reader.unanswered():
        notes.append(f"{card_reader.unanswered()} recorded card answer(s) were never asked for")
    if psam is not None and psam.unanswered():
        notes.append(f"{psam.unanswered()} recorded PSAM answer(s) were never asked for")
    shown = [str(e.data.get("screen")) for e in replayed if e.kind == "screen"]
    return ReplayResult(difference is None, difference, shown, tickets, errors, notes, out / "session", counts)


def _replay_config(config: KioskConfig, out: Path, key_path: Path | None, printer_port: int) -> KioskConfig:
    return dataclasses.replace(
        config,
        kiosk=dataclasses.replace(config.kiosk, data_dir=str(out / "kiosk")),
        central=dataclasses.replace(config.central, url=REPLAY_CENTRAL_URL),
        printer=dataclasses.replace(config.printer, kind="network", host="127.0.0.1", port=printer_port,
                                    simulate=False),
        camera=dataclasses.replace(config.camera, source=""),
        recording=dataclasses.replace(config.recording, enabled=False, camera_frames=False,
                                      key_file=str(key_path or config.recording.key_file),
                                      dir=str(out / "recordings")),
    )


def with_settings(config: KioskConfig, settings: dict[str, Any], source: str) -> KioskConfig:
    """``config`` with a scenario header's "section.key" settings applied (each one must exist)."""
    sections: dict[str, dict[str, Any]] = {}
    for dotted, value in settings.items():
        section, _, key = str(dotted).partition(".")
        current = getattr(config, section, None)
        if current is None or not dataclasses.is_dataclass(current) or key not in \
                {f.name for f in dataclasses.fields(current)}:
            raise SessionError(f"{source}: the header sets {dotted!r}, which is not a kiosk setting")
        sections.setdefault(section, {})[key] = value
    changed = {name: dataclasses.replace(getattr(config, name), **values) for name, values in sections.items()}
    return dataclasses.replace(config, **changed)


@dataclass
class _Bench:
    """What stands in for the devices during a replay, as ``_play`` needs it."""

    worker: SteppedWorker | None
    virtual_printer: VirtualPrinter | None
    card_reader: ReplayCardReader
    health: RecordedHealth
    notes: list[str]
    face: ReplayFaceChecker | None = None


def _play(event: Event, runtime: Any, driver: Any, bench: _Bench, window: Any, touch_class: Any) -> None:
    data = event.data
    kind = event.kind
    if kind == "tap":
        widget = data.get("widget")
        if widget:
            driver.tap(str(widget))
        else:
            x, y = data.get("pos") or (0.5, 0.5)
            touch = touch_class(float(x) * window.width, float(y) * window.height)
            touch.touch_down()
            driver.pump(1)
            touch.touch_up()
            driver.pump(1)
    elif kind == "key":
        window.dispatch("on_key_down", int(data.get("key", 0)), 0, data.get("codepoint"), [])
        window.dispatch("on_key_up", int(data.get("key", 0)), 0)
        driver.pump(1)
    elif kind == "qr":
        raw = bytes.fromhex(str(data.get("raw") or "")) or str(data.get("text", "")).encode()
        runtime.deliver_code(DecodedCode(str(data.get("text", "")), raw, str(data.get("decoder", "replay"))))
    elif kind == "timer":
        name = data.get("name")
        if name == "tick":
            runtime.app.tick()
        elif name == "monitor":
            runtime.services.monitor_round()
    elif kind == "deliver":
        if bench.worker is not None:
            bench.worker.deliver_next()
    elif kind == "card":
        bench.card_reader.feed(event)
    elif kind == "health":
        if bench.health.feed(event):
            runtime.services.apply_device_health()  # as the monitor round that saw it did
    elif kind == "camera":
        _decode_frames(event, runtime, bench.notes)
    elif kind == FACE and bench.face is not None:
        bench.face.feed(event)
    elif kind == "printer" and data.get("op") == "fault" and bench.virtual_printer is not None:
        _apply_fault(bench.virtual_printer, data)


def _apply_fault(printer: VirtualPrinter, data: dict[str, Any]) -> None:
    if "paper" in data:
        printer.set_paper(str(data["paper"]))
    if "cover_open" in data:
        printer.set_cover_open(bool(data["cover_open"]))
    if "offline" in data:
        printer.set_offline(bool(data["offline"]))
    if "fail_after_cuts" in data:
        printer.fail_after_cuts(int(data["fail_after_cuts"]), Fault(str(data.get("fault", "paper_out"))),
                                int(data.get("bytes_into_next_job", 0)))
    if "delay_s" in data:  # a slow printer: each cut takes this long (real seconds, as on the wire)
        printer.set_delay(float(data["delay_s"]))
    if data.get("clear"):
        printer.clear_faults()


def _pace(event_loop: Any, seconds: float, speed: float) -> None:
    """Wait ``seconds / speed`` of real time, keeping the window drawn."""
    if not math.isfinite(speed) or seconds <= 0:
        return
    deadline = time.monotonic() + seconds / speed
    while time.monotonic() < deadline:
        event_loop.idle()
        time.sleep(min(1 / 30, max(0.0, deadline - time.monotonic())))


def _snap(driver: Any, out: Path, screens: list[str], shown: Any, screenshots: bool) -> Any:
    now = driver.app.shown
    if now is None or now == shown:
        return shown
    name = now[0]
    screens.append(name)
    if screenshots:
        driver.screenshot(out / "screens" / f"{len(screens):03d}-{name}.png")
    return now


def _tickets(replayed: list[Event], folder: Path, virtual_printer: VirtualPrinter | None) -> list[str]:
    """Every job sent to the printer as a PNG (the virtual printer's own, or rendered here)."""
    if virtual_printer is not None:
        return [str(job.png_path) for job in virtual_printer.jobs if job.png_path is not None]
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    jobs = [e for e in replayed if e.kind == "printer" and e.data.get("op") == "job" and e.data.get("data")]
    for index, event in enumerate(jobs, start=1):
        path = folder / f"job-{index:04d}.png"
        try:
            render_commands(parse_all(bytes.fromhex(event.data["data"]))).save(path)
        except (EscposParseError, ValueError) as exc:
            log.warning("ticket %d cannot be drawn: %s", index, exc)
            continue
        paths.append(str(path))
    return paths


__all__ = ["ReplayOptions", "ReplayRefused", "ReplayResult", "SessionError", "first_difference", "load_for_replay",
           "replay", "screen_name"]
