"""Scripted faults at the transport level: a timeline of steps on a virtual clock.

A fault script is a list of steps; each does one thing to a simulator that sits where the real
device is (the virtual printer on TCP, the card reader, the injected camera, the proxy in front
of the real central), either at a moment of virtual time or when the test announces an event::

    # faults.toml
    [[step]]
    at = 0
    do = "central.down"
    for_s = 60              # comes back by itself 60 virtual seconds later

    [[step]]
    after = "ticket_sent"   # runner.event("ticket_sent") fires it (plus `at` seconds, default 0)
    do = "printer.paper_out"

    script = FaultScript.load("faults.toml")          # or FaultScript.parse({"step": [...]})
    runner = FaultRunner(script, FaultTargets(printer=vp, central=proxy, central_clock=central.advance_clock))
    runner.start()          # steps at t = 0
    runner.advance(60)      # virtual time: due steps fire in order, the central's test clock moves 60 s too

Nothing sleeps: "the central down for 60 s then back" takes milliseconds. ``runner.log`` lists
what was done and when. A step naming an unknown action, an unknown parameter or a device the
runner was not given is refused when the runner is built, with the step's number.
"""

from __future__ import annotations

import json
import logging
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from devices.camera import InjectedFrameSource
from devices.printer_api import PaperLevel
from devices.sim.card_emulator import DEFAULT_ATR, CardEmulator, PcscdProcess
from devices.sim.card_reader_sim import GARBAGE_ATR, SimCardReader, unreadable_card
from devices.sim.central_proxy import CentralProxy, FaultKind
from devices.sim.printer import Fault as PrinterFault
from devices.sim.printer import VirtualPrinter

log = logging.getLogger(__name__)

FRAME_SHAPE = (720, 1280, 3)
MALFORMED_KINDS = ("truncated_json", "html_page", "wrong_shape")


class FaultScriptError(ValueError):
    """A fault script that cannot run: the message names the step and what is wrong."""


@dataclass(frozen=True)
class FaultStep:
    number: int  # 1-based, for messages
    action: str
    at: float | None = None  # virtual seconds from the start, or from the `after` event
    after: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        return f"step {self.number} ({self.action})"


@dataclass(frozen=True)
class FaultScript:
    steps: tuple[FaultStep, ...]

    @classmethod
    def load(cls, path: Path | str) -> FaultScript:
        """A .toml or .json file with a list of steps under ``step``."""
        path = Path(path)
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise FaultScriptError(f"{path}: cannot read: {exc.strerror}") from None
        try:
            data = json.loads(raw) if path.suffix == ".json" else tomllib.loads(raw.decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:  # JSON, TOML and UTF-8 errors are all ValueErrors
            raise FaultScriptError(f"{path}: not a valid {path.suffix.lstrip('.') or 'TOML'} file: {exc}") from None
        try:
            return cls.parse(data)
        except FaultScriptError as exc:
            raise FaultScriptError(f"{path}: {exc}") from None

    @classmethod
    def parse(cls, data: object) -> FaultScript:
        if not isinstance(data, dict) or set(data) != {"step"} or not isinstance(data["step"], list):
            raise FaultScriptError("a fault script is a list of steps under the key 'step'")
        return cls(tuple(_parse_step(number, raw) for number, raw in enumerate(data["step"], start=1)))


def _parse_step(number: int, raw: object) -> FaultStep:
    if not isinstance(raw, dict):
        raise FaultScriptError(f"step {number}: must be a table")
    values = dict(raw)
    action = values.pop("do", None)
    if not isinstance(action, str) or action not in ACTIONS:
        raise FaultScriptError(f"step {number}: 'do' must be one of {', '.join(sorted(ACTIONS))}, got {action!r}")
    at, after = values.pop("at", None), values.pop("after", None)
    if at is not None and (isinstance(at, bool) or not isinstance(at, int | float) or at < 0):
        raise FaultScriptError(f"step {number} ({action}): 'at' must be a number of seconds, not {at!r}")
    if after is not None and (not isinstance(after, str) or not after):
        raise FaultScriptError(f"step {number} ({action}): 'after' must be an event name")
    if at is None and after is None:
        raise FaultScriptError(f"step {number} ({action}): needs 'at' (seconds) or 'after' (an event)")
    spec = ACTIONS[action]
    for name, value in values.items():
        expected = spec.params.get(name)
        if expected is None:
            allowed = ", ".join(sorted(spec.params)) or "none"
            raise FaultScriptError(f"step {number} ({action}): unknown parameter {name!r} (allowed: {allowed})")
        if isinstance(value, bool) or not isinstance(value, expected):
            raise FaultScriptError(f"step {number} ({action}): {name} has the wrong type: {value!r}")
        where = f"step {number} ({action}): {name}"
        if isinstance(value, int | float) and value < (1 if name == "count" else 0):
            raise FaultScriptError(f"{where} must be {'at least 1' if name == 'count' else 'zero or more'}")
        choices = spec.choices.get(name)
        if choices is not None and value not in choices:
            raise FaultScriptError(f"{where} must be one of {', '.join(choices)}, not {value!r}")
    return FaultStep(number, action, None if at is None else float(at), after, values)


class VirtualClock:
    """Seconds of virtual time; only :meth:`FaultRunner.advance` moves it."""

    def __init__(self) -> None:
        self._now = 0.0

    def now(self) -> float:
        return self._now

    def _move_to(self, moment: float) -> None:
        self._now = max(self._now, moment)


@dataclass
class FaultTargets:
    """The simulators a script acts on; give only those the script needs."""

    printer: VirtualPrinter | None = None
    card: SimCardReader | CardEmulator | None = None
    pcscd: PcscdProcess | None = None  # for card.pcscd_restart, when the real reader is in use
    camera: InjectedFrameSource | None = None
    central: CentralProxy | None = None
    # Moves the central's own clock (tests: RunningCentral.advance_clock) with the virtual time.
    central_clock: Callable[[float], None] | None = None


class FaultRunner:
    def __init__(self, script: FaultScript, targets: FaultTargets, clock: VirtualClock | None = None) -> None:
        self.script = script
        self.targets = targets
        self.clock = clock or VirtualClock()
        self.log: list[str] = []  # "t=60.0 central.up", in firing order
        for step in script.steps:
            _check_target(step, targets)
        # (due time, order, step): steps with `after` join once their event is announced
        self._due: list[tuple[float, int, FaultStep]] = [
            (step.at or 0.0, step.number, step) for step in script.steps if step.after is None
        ]
        self._waiting = [step for step in script.steps if step.after is not None]
        self._order = len(script.steps)

    @property
    def now(self) -> float:
        return self.clock.now()

    def start(self) -> None:
        """Fire the steps due at the start (at = 0)."""
        self._fire_due(self.now)

    def advance(self, seconds: float) -> None:
        """Move virtual time on, firing each step when its moment comes (and the central's clock along)."""
        if seconds < 0:
            raise ValueError("time only moves forward")
        end = self.now + seconds
        while True:
            upcoming = [due for due, _, _ in self._due if due <= end]
            moment = min(upcoming) if upcoming else end
            self._move_clock_to(moment)
            self._fire_due(moment)
            if moment >= end:
                return

    def event(self, name: str) -> None:
        """Announce that ``name`` happened: its steps are due ``at`` seconds (default 0) from now."""
        for step in [s for s in self._waiting if s.after == name]:
            self._waiting.remove(step)
            self._schedule(self.now + (step.at or 0.0), step)
        self._fire_due(self.now)

    @property
    def pending(self) -> list[FaultStep]:
        """Steps not fired yet (scheduled, or waiting for their event)."""
        return [step for _, _, step in sorted(self._due, key=lambda d: (d[0], d[1]))] + list(self._waiting)

    # -- internals ---------------------------------------------------------------------------------

    def _schedule(self, due: float, step: FaultStep) -> None:
        self._order += 1
        self._due.append((due, self._order, step))

    def _move_clock_to(self, moment: float) -> None:
        elapsed = moment - self.now
        if elapsed > 0 and self.targets.central_clock is not None:
            self.targets.central_clock(elapsed)
        self.clock._move_to(moment)

    def _fire_due(self, moment: float) -> None:
        while True:
            ready = sorted((d for d in self._due if d[0] <= moment), key=lambda d: (d[0], d[1]))
            if not ready:
                return
            entry = ready[0]
            self._due.remove(entry)
            step = entry[2]
            log.info("fault script t=%.1f: %s", self.now, step.action)
            self.log.append(f"t={self.now:.1f} {step.action}")
            ACTIONS[step.action].run(self, self.targets, dict(step.params))


# -- the actions -------------------------------------------------------------------------------

Run = Callable[[FaultRunner, FaultTargets, dict[str, Any]], None]
NUMBER = (int, float)


@dataclass(frozen=True)
class _Action:
    target: str  # the FaultTargets field it needs
    run: Run
    params: dict[str, type | tuple[type, ...]] = field(default_factory=dict)
    needs: type | tuple[type, ...] | None = None  # a narrower kind of target, when only that one can do it
    choices: dict[str, tuple[str, ...]] = field(default_factory=dict)


def _check_target(step: FaultStep, targets: FaultTargets) -> None:
    spec = ACTIONS[step.action]
    target = getattr(targets, spec.target)
    if target is None:
        raise FaultScriptError(f"{step.describe()}: the runner was given no {spec.target} to act on")
    if spec.needs is not None and not isinstance(target, spec.needs):
        raise FaultScriptError(f"{step.describe()}: needs the simulated card reader (SimCardReader), "
                               f"not {type(target).__name__}")


def _printer(targets: FaultTargets) -> VirtualPrinter:
    assert targets.printer is not None  # checked when the runner was built
    return targets.printer


def _proxy(targets: FaultTargets) -> CentralProxy:
    assert targets.central is not None
    return targets.central


def _camera(targets: FaultTargets) -> InjectedFrameSource:
    assert targets.camera is not None
    return targets.camera


def _card(targets: FaultTargets) -> SimCardReader | CardEmulator:
    assert targets.card is not None
    return targets.card


def _sim_card(targets: FaultTargets) -> SimCardReader:
    assert isinstance(targets.card, SimCardReader)
    return targets.card


def _central_down(runner: FaultRunner, targets: FaultTargets, params: dict[str, Any]) -> None:
    _proxy(targets).set_down(True)
    if "for_s" in params:
        runner._schedule(runner.now + float(params["for_s"]), FaultStep(0, "central.up", at=0.0))


def _central_fault(kind: FaultKind) -> Run:
    def run(_runner: FaultRunner, targets: FaultTargets, params: dict[str, Any]) -> None:
        options = {name: params[name] for name in ("path", "status", "delay_s") if name in params}
        _proxy(targets).fail_next(kind, count=params.get("count"), **options)

    return run


def _central_malformed(_runner: FaultRunner, targets: FaultTargets, params: dict[str, Any]) -> None:
    _proxy(targets).fail_next(FaultKind(params.get("kind", "truncated_json")), count=params.get("count"),
                              **{name: params[name] for name in ("path",) if name in params})


def _card_insert(_runner: FaultRunner, targets: FaultTargets, params: dict[str, Any]) -> None:
    card = _card(targets)
    atr = bytes.fromhex(params["atr"]) if "atr" in params else None
    if isinstance(card, SimCardReader):
        card.insert(atr or DEFAULT_ATR)
        return
    card.atr = atr or card.atr
    card.insert()


def _card_put_back(_runner: FaultRunner, targets: FaultTargets, _params: dict[str, Any]) -> None:
    card = _card(targets)
    if isinstance(card, SimCardReader):
        card.put_back()
    else:
        card.insert()  # the emulator keeps its card (handler) across remove/insert


def _card_pull_at(_runner: FaultRunner, targets: FaultTargets, params: dict[str, Any]) -> None:
    _card(targets).pull_at_command(int(params.get("commands", 0)), executed=params.get("when") == "after")


def _card_unreadable(_runner: FaultRunner, targets: FaultTargets, _params: dict[str, Any]) -> None:
    card = _card(targets)
    if isinstance(card, SimCardReader):
        card.insert_unreadable()
        return
    card.remove()
    card.atr = GARBAGE_ATR
    card.set_handler(unreadable_card)
    card.insert()


def _pcscd_restart(_runner: FaultRunner, targets: FaultTargets, _params: dict[str, Any]) -> None:
    pcscd = targets.pcscd
    assert pcscd is not None
    pcscd.stop()
    pcscd.start()


def _frames(fill: Callable[[], np.ndarray]) -> Run:
    def run(_runner: FaultRunner, targets: FaultTargets, params: dict[str, Any]) -> None:
        camera = _camera(targets)
        for _ in range(int(params.get("count", 1))):
            camera.push(fill())

    return run


def black_frame() -> np.ndarray:
    """A covered lens: a dark frame with a little sensor noise."""
    return np.random.default_rng().integers(0, 8, FRAME_SHAPE, dtype=np.uint8)


def glare_frame() -> np.ndarray:
    """Sunlight on the screen held up: the sensor saturated, a few grey patches left."""
    frame = np.full(FRAME_SHAPE, 255, dtype=np.uint8)
    frame[300:420, 560:720] = 235
    return frame


def _printer_action(act: Callable[[VirtualPrinter], None]) -> Run:
    return lambda _runner, targets, _params: act(_printer(targets))


def _printer_clear(_runner: FaultRunner, targets: FaultTargets, _params: dict[str, Any]) -> None:
    printer = _printer(targets)
    printer.clear_faults()
    printer.set_delay(0)


def _paper_out_after(_runner: FaultRunner, targets: FaultTargets, params: dict[str, Any]) -> None:
    _printer(targets).fail_after_cuts(int(params.get("tickets", 0)), PrinterFault.PAPER_OUT,
                                      int(params.get("bytes_into_next", 0)))


ACTIONS: dict[str, _Action] = {
    # printer (VirtualPrinter)
    "printer.paper_out": _Action("printer", _printer_action(lambda p: p.set_paper(PaperLevel.OUT))),
    "printer.paper_out_after": _Action("printer", _paper_out_after, {"tickets": int, "bytes_into_next": int}),
    "printer.paper_near_end": _Action("printer", _printer_action(lambda p: p.set_paper(PaperLevel.NEAR_END))),
    "printer.cover_open": _Action("printer", _printer_action(lambda p: p.set_cover_open(True))),
    "printer.cover_closed": _Action("printer", _printer_action(lambda p: p.set_cover_open(False))),
    "printer.offline": _Action("printer", _printer_action(lambda p: p.set_offline(True))),
    "printer.online": _Action("printer", _printer_action(lambda p: p.set_offline(False))),
    "printer.slow": _Action("printer", lambda _r, t, p: _printer(t).set_delay(float(p.get("seconds", 0))),
                            {"seconds": NUMBER}),
    "printer.clear": _Action("printer", _printer_clear),
    # card reader (SimCardReader, or the CardEmulator behind vpcd)
    "card.insert": _Action("card", _card_insert, {"atr": str}),
    "card.remove": _Action("card", lambda _r, t, _p: _card(t).remove()),
    # the card that was taken out or pulled comes back as it was (a year-card with its image)
    "card.put_back": _Action("card", _card_put_back),
    "card.pull_mid_command": _Action("card", lambda _r, t, _p: _card(t).pull_on_next_command()),
    # the card leaves at the command `commands` from now (0: the next), before it reaches the card or
    # after the card did it (a debit written, its answer lost): a tear at any APDU of a redemption
    "card.pull_at": _Action("card", _card_pull_at, {"commands": int, "when": str},
                            choices={"when": ("before", "after")}),
    "card.stall": _Action("card", lambda _r, t, p: _card(t).stall_next(float(p.get("seconds", 5))),
                          {"seconds": NUMBER}),
    "card.unreadable": _Action("card", _card_unreadable),
    "card.reader_gone": _Action("card", lambda _r, t, _p: _sim_card(t).unplug(), needs=SimCardReader),
    "card.reader_back": _Action("card", lambda _r, t, _p: _sim_card(t).plug(), needs=SimCardReader),
    "card.pcscd_restart": _Action("pcscd", _pcscd_restart),
    # camera (InjectedFrameSource)
    "camera.unplug": _Action("camera", lambda _r, t, _p: _camera(t).unplug()),
    "camera.plug": _Action("camera", lambda _r, t, _p: _camera(t).plug()),
    "camera.black": _Action("camera", _frames(black_frame), {"count": int}),
    "camera.glare": _Action("camera", _frames(glare_frame), {"count": int}),
    # central (CentralProxy in front of the real central)
    "central.down": _Action("central", _central_down, {"for_s": NUMBER}),
    "central.up": _Action("central", lambda _r, t, _p: _proxy(t).set_down(False)),
    "central.slow": _Action("central", _central_fault(FaultKind.DELAY),
                            {"delay_s": NUMBER, "count": int, "path": str}),
    "central.error_5xx": _Action("central", _central_fault(FaultKind.ERROR_5XX),
                                 {"status": int, "count": int, "path": str}),
    "central.malformed": _Action("central", _central_malformed, {"kind": str, "count": int, "path": str},
                                 choices={"kind": MALFORMED_KINDS}),
    "central.clear": _Action("central", lambda _r, t, _p: _proxy(t).clear()),
}
