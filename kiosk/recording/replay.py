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
"""

from __future__ import annotations

import collections
import dataclasses
import io
import json
import logging
import math
import re
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from requests.adapters import BaseAdapter
from urllib3.exceptions import MaxRetryError, NewConnectionError

from devices.camera_api import DecodedCode
from devices.health import HEALTH_OK, Health, HealthLevel
from devices.printer import DLE_EOT, GS_R_PAPER
from devices.qr import decode_frame
from devices.sim.escpos_parser import EscposParseError, parse_all
from devices.sim.escpos_render import render_commands
from devices.sim.faults import black_frame, glare_frame
from devices.sim.printer import Fault, VirtualPrinter
from kiosk.clock import VirtualClock
from kiosk.config import KioskConfig
from kiosk.recording.card import ReplayCardReader
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

log = logging.getLogger(__name__)

REPLAY_CENTRAL_URL = "http://central.replay"
REPLAY_CREDENTIAL = "replay.bench-credential"
STEP_TIMEOUT_S = 20.0  # real seconds a background job may take to reach its next step
ANY = "any"  # hand-written scenarios: any app version / config


class ReplayRefused(Exception):
    """The session was recorded by another app version or configuration (``--force`` goes on)."""


class ReplayStuck(Exception):
    """The app did not do what the timeline needs next (a job that never reaches its step)."""


@dataclass
class Difference:
    stream: str  # screens | printer | central | card | health | inputs
    index: int
    t: float
    recorded: str
    replayed: str

    def describe(self) -> str:
        return (f"first difference in {self.stream} #{self.index + 1} (t={self.t:.3f} s):\n"
                f"  recorded: {self.recorded}\n  replayed: {self.replayed}")


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


# -- the central: the client's transport answers from the session ----------------------------------


class RecordedCentral(BaseAdapter):
    """A requests transport that answers each (method, path) with its recorded answers in order.

    An answer with ``delay_s`` (a slow central) moves the virtual clock on by that much, or by the
    client's read timeout when it is longer: then the client gives up as it did ("read timeout").
    """

    def __init__(self, events: list[Event], notes: list[str], clock: VirtualClock | None = None) -> None:
        super().__init__()
        self._clock = clock
        self._answers: dict[tuple[str, str], collections.deque[Event]] = collections.defaultdict(collections.deque)
        for event in events:
            self._answers[(str(event.data.get("method", "")).upper(), str(event.data.get("path", "")))].append(event)
        self._notes = notes
        self._lock = threading.Lock()

    def send(self, request: requests.PreparedRequest, stream: bool = False, timeout: Any = None, verify: Any = True,
             cert: Any = None, proxies: Any = None) -> requests.Response:
        url = request.url or ""
        path = url[len(REPLAY_CENTRAL_URL):] if url.startswith(REPLAY_CENTRAL_URL) else url
        method = (request.method or "").upper()
        with self._lock:
            queue = self._answers.get((method, path))
            event = queue.popleft() if queue else None
        if event is None:
            self._notes.append(f"the app sent {method} {path}, which the session has no answer for")
            raise requests.ConnectionError(MaxRetryError(None, url, NewConnectionError(None, "not in the session")))  # type: ignore[arg-type]
        error = event.data.get("error")
        if self._slow(event.data.get("delay_s"), timeout) and not error:
            error = "read timeout"
        if error:
            raise _transport_error(str(error), url)
        response = requests.Response()
        response.status_code = int(event.data.get("status") or 200)
        response.raw = io.BytesIO(_recorded_body(event.data))
        response.headers["Content-Type"] = "application/json"
        response.url = url
        response.request = request
        response.encoding = "utf-8"
        return response

    def close(self) -> None:
        """Nothing to release."""

    def _slow(self, delay: Any, timeout: Any) -> bool:
        """Let the recorded delay pass on the virtual clock; True when it is past the read timeout."""
        if isinstance(delay, bool) or not isinstance(delay, int | float) or delay <= 0:
            return False
        read_timeout = timeout[1] if isinstance(timeout, tuple) else timeout
        limit = float(read_timeout) if isinstance(read_timeout, int | float) else math.inf
        if self._clock is not None:
            self._clock.set_elapsed(self._clock.elapsed + min(float(delay), limit))
        return float(delay) > limit

    def unanswered(self) -> int:
        return sum(len(queue) for queue in self._answers.values())


def _recorded_body(data: dict[str, Any]) -> bytes:
    if data.get("response") is not None:
        return json.dumps(data["response"], ensure_ascii=False).encode()
    if data.get("response_text") is not None:
        return str(data["response_text"]).encode()
    if data.get("response_b64") is not None:
        import base64

        return base64.b64decode(data["response_b64"])
    return b""


def _transport_error(error: str, url: str) -> requests.RequestException:
    """The exception that makes the client see the recorded failure again (see client._describe)."""
    if error == "connection refused":
        return requests.ConnectionError(MaxRetryError(None, url, NewConnectionError(None, error)))  # type: ignore[arg-type]
    if error == "connect timeout":
        return requests.ConnectTimeout(error)
    if error in ("read timeout", "answer too slow"):
        return requests.ReadTimeout(error)
    return requests.ConnectionError(error)


# -- the printer: a connection that answers with the recorded status replies -------------------------


def _is_status_request(data: bytes) -> bool:
    return (len(data) == 3 and data.startswith(DLE_EOT)) or data == GS_R_PAPER


class _ScriptedDevice:
    timeout: float = 0.0

    def reset_input_buffer(self) -> None:
        """Late answers do not exist here."""


class ScriptedPrinter:
    """Stands where python-escpos's connection is; answers from the session's printer events."""

    def __init__(self, events: list[Event], notes: list[str]) -> None:
        self._connects = collections.deque(e for e in events if e.data.get("op") == "connect")
        self._asks = [e for e in events if e.data.get("op") == "ask"]
        self._jobs = collections.deque(e for e in events if e.data.get("op") == "job")
        self._notes = notes

    def connect(self, _config: Any) -> ScriptedConnection:
        if self._connects:
            error = self._connects.popleft().data.get("error")
            if error:
                raise ConnectionError(str(error))
        return ScriptedConnection(self)

    def answer(self, request: bytes) -> bytes:
        wanted = request.hex()
        for index, event in enumerate(self._asks):
            if event.data.get("request") == wanted:
                del self._asks[index]
                if event.data.get("error") == "timeout" or event.data.get("answer") is None:
                    raise TimeoutError("no answer (as recorded)")
                if event.data.get("error"):
                    raise OSError(str(event.data["error"]))
                return bytes.fromhex(str(event.data["answer"]))
        self._notes.append(f"the printer was asked {request.hex(' ')} more often than recorded")
        raise TimeoutError("no recorded answer")

    def job(self, data: bytes) -> None:
        if not self._jobs:
            self._notes.append(f"the app sent a print job ({len(data)} bytes) the session does not have")
            return
        error = self._jobs.popleft().data.get("error")
        if error:
            raise OSError(str(error))


class ScriptedConnection:
    def __init__(self, printer: ScriptedPrinter) -> None:
        self._printer = printer
        self._request: bytes | None = None
        self.device = _ScriptedDevice()

    def open(self) -> None:
        """Opened by the scripted printer."""

    def _raw(self, data: bytes) -> None:
        if _is_status_request(data):
            self._request = data
        else:
            self._printer.job(data)

    def _read(self) -> bytes:
        request, self._request = self._request, None
        if request is None:
            raise TimeoutError("nothing was asked")
        return self._printer.answer(request)

    def close(self) -> None:
        """Nothing to release."""


# -- device health: what the kiosk's monitor saw, as recorded -----------------------------------------


class RecordedHealth:
    """The camera's and card reader's health for a replay: the session's "health" events, not probes.

    The services ask it instead of the devices (``ServiceHooks.device_health``); each recorded
    change is fed at its instant and taken at once (``KioskServices.apply_device_health``).
    """

    DEVICES = ("camera", "card")

    def __init__(self, snapshot: dict[str, Any], notes: list[str]) -> None:
        self._notes = notes
        self._health = {device: _health_of(snapshot.get(f"{device}_health")) or HEALTH_OK
                        for device in self.DEVICES}

    def __call__(self, device: str) -> Health:
        return self._health.get(device, HEALTH_OK)

    def feed(self, event: Event) -> bool:
        device = event.data.get("device")
        health = _health_of([event.data.get("level"), event.data.get("reason", "")])
        if device not in self.DEVICES or health is None:
            self._notes.append(f"t={event.t:.3f}: a health event that cannot be replayed: {event.describe()}")
            return False
        self._health[str(device)] = health
        return True


def _health_of(pair: Any) -> Health | None:
    if not isinstance(pair, list | tuple) or len(pair) != 2:
        return None
    try:
        return Health(HealthLevel(str(pair[0])), str(pair[1] or ""))
    except ValueError:
        return None


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


# -- the flow's worker, one step at a time -----------------------------------------------------------


class SteppedWorker:
    """Runs the flow's jobs on one thread that stops at each callback until the timeline delivers it.

    ``submit`` and each delivery return only once the job thread stands still again (parked at
    its next callback, or idle), so the app moves exactly as one thread would: deterministic.
    """

    def __init__(self, deliver_hook: Callable[[Callable[[], None]], None]) -> None:
        self._deliver_hook = deliver_hook
        self._cond = threading.Condition()
        self._jobs: collections.deque[tuple[Callable[[], Any], Callable[[Any, BaseException | None], None]]] = \
            collections.deque()
        self._ready: collections.deque[Callable[[], None]] = collections.deque()  # callbacks for the main loop
        self._busy = False
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="replay-worker", daemon=True)
        self._thread.start()

    def submit(self, job: Callable[[], Any], done: Callable[[Any, BaseException | None], None]) -> None:
        with self._cond:
            self._jobs.append((job, done))
            self._busy = True
            self._cond.notify_all()
        self.settle()

    def post(self, callback: Callable[[], None]) -> None:
        """From the job thread: park until the timeline delivers ``callback``."""
        with self._cond:
            self._ready.append(callback)
            self._busy = False
            self._cond.notify_all()
            self._cond.wait_for(lambda: callback not in self._ready or self._closing)

    def deliver_next(self) -> None:
        self.settle()
        with self._cond:
            if not self._ready:
                raise ReplayStuck("the session delivers a job's result here, but the app has no job waiting")
            callback = self._ready.popleft()
            if _is_from_job(callback):
                self._busy = True  # the job thread was parked on it: it runs on to its next step
            self._cond.notify_all()
        self.settle()
        self._deliver_hook(callback)

    def pending(self) -> int:
        with self._cond:
            return len(self._ready)

    def settle(self) -> None:
        with self._cond:
            if not self._cond.wait_for(lambda: not self._busy, STEP_TIMEOUT_S):
                raise ReplayStuck(f"a background job did not reach its next step within {STEP_TIMEOUT_S} s")

    def stop(self) -> None:
        with self._cond:
            self._closing = True
            self._jobs.clear()
            self._cond.notify_all()

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: bool(self._jobs) or self._closing)
                if self._closing:
                    return
                job, done = self._jobs.popleft()
                self._busy = True
            result: Any = None
            error: BaseException | None = None
            try:
                result = job()
            except Exception as exc:  # handed to the flow, as the kiosk's worker does
                error = exc

            def finished(d: Callable[[Any, BaseException | None], None] = done, r: Any = result,
                         e: BaseException | None = error) -> None:
                d(r, e)

            with self._cond:
                self._ready.append(finished)
                self._busy = bool(self._jobs)
                self._cond.notify_all()


def _is_from_job(callback: Callable[[], None]) -> bool:
    return getattr(callback, "_from_job", False) is True


def _mark_from_job(callback: Callable[[], None]) -> Callable[[], None]:
    def wrapped() -> None:
        callback()

    wrapped._from_job = True  # type: ignore[attr-defined]
    return wrapped


class _SteppedWorkerFacade:
    """What the flow sees: posts from the job thread are marked so a delivery resumes that thread."""

    def __init__(self, worker: SteppedWorker) -> None:
        self.inner = worker

    def submit(self, job: Callable[[], Any], done: Callable[[Any, BaseException | None], None]) -> None:
        self.inner.submit(job, done)

    def post(self, callback: Callable[[], None]) -> None:
        self.inner.post(_mark_from_job(callback))

    def stop(self) -> None:
        self.inner.stop()


# -- comparing ----------------------------------------------------------------------------------------

_TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}")
# A claim grant is an HMAC over an expiry time: fresh on every lookup, like a nonce.
_VOLATILE_KEYS = ("nonce", "timestamp", "time", "idempotency", "grant")


def normalise(value: Any, key: str = "") -> Any:
    """Identifiers made fresh on each run, nonces and times become placeholders."""
    lowered = key.lower()
    if lowered and (any(word in lowered for word in _VOLATILE_KEYS) or lowered.endswith("_at")):
        return f"<{key}>"
    if isinstance(value, dict):
        return {k: normalise(v, k) for k, v in sorted(value.items())}
    if isinstance(value, list):
        return [normalise(v) for v in value]
    if isinstance(value, str) and _TIME_RE.match(value):
        return "<time>"
    return value


def _view(event: Event) -> dict[str, Any]:
    """The part of an output event that must come out the same (only the fields the session has)."""
    data = event.data
    if event.kind == "screen":
        view = {"screen": data.get("screen")}
        if "detail" in data:
            view["detail"] = data["detail"]
        return view
    if event.kind == "printer":
        return {"data": data["data"]} if "data" in data else {}
    if event.kind == "apdu":
        return {"command": data.get("command")}
    if event.kind == "health":
        return {name: data.get(name) for name in ("device", "level", "reason")}
    view = {"method": data.get("method"), "path": data.get("path")}
    for name in ("attempt", "body", "body_text"):
        if name in data:
            view[name] = normalise(data[name])
    if "headers" in data:
        view["idempotency"] = "Idempotency-Key" in (data["headers"] or {})
    return view


def _same(recorded: dict[str, Any], replayed: dict[str, Any]) -> bool:
    return all(replayed.get(key) == value for key, value in recorded.items())


def _streams(events: list[Event]) -> dict[str, list[Event]]:
    return {
        "screens": [e for e in events if e.kind == "screen"],
        "printer": [e for e in events if e.kind == "printer" and e.data.get("op") == "job"],
        "central": [e for e in events if e.kind == "central"],
        "card": [e for e in events if e.kind == "apdu"],  # the commands the kiosk sent to the card
        "health": [e for e in events if e.kind == "health"],  # camera and reader health as the kiosk took it
    }


def _short(event: Event | None) -> str:
    if event is None:
        return "(nothing)"
    view = _view(event)
    if "data" in view:
        data = str(view["data"])
        view["data"] = f"{len(data) // 2} bytes: {data[:96]}{'...' if len(data) > 96 else ''}"
    return json.dumps(view, ensure_ascii=False)[:400]


def first_difference(recorded: list[Event], replayed: list[Event]) -> Difference | None:
    """The earliest (by recorded time) place where the replay did something else."""
    found: list[Difference] = []
    replayed_streams = _streams(replayed)
    for name, expected in _streams(recorded).items():
        actual = replayed_streams[name]
        for index in range(max(len(expected), len(actual))):
            want = expected[index] if index < len(expected) else None
            got = actual[index] if index < len(actual) else None
            if want is not None and got is not None and _same(_view(want), _view(got)):
                continue
            t = want.t if want is not None else (got.t if got is not None else math.inf)
            found.append(Difference(name, index, t, _short(want), _short(got)))
            break
    return min(found, key=lambda d: d.t) if found else None


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
        return _SteppedWorkerFacade(stepped[0])

    card_reader = ReplayCardReader(session.of_kind("card", "apdu"), notes)
    health = RecordedHealth(header.snapshot if not header.from_start else {}, notes)
    hooks = ServiceHooks(clock=clock, credential=REPLAY_CREDENTIAL, http_session=http,
                         printer_connect=scripted.connect if scripted is not None else None,
                         background_threads=False, card_reader=card_reader, device_health=health)
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
                bench = _Bench(stepped[0] if stepped else None, virtual_printer, card_reader, health, notes)
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
    counts = {name: len(events) for name, events in _streams(replayed).items()}
    if central.unanswered():
        notes.append(f"{central.unanswered()} recorded central answer(s) were never asked for")
    if card_reader.unanswered():
        notes.append(f"{card_reader.unanswered()} recorded card answer(s) were never asked for")
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
           "replay"]
