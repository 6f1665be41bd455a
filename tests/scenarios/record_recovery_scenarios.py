"""Record the lost-ticket scenarios on real parts and keep them here as readable sessions.

Each scenario is a real session: the kiosk runtime (its Kivy app offscreen, the worker thread,
the recorder) on a real central over HTTP (SQLite, the demo data, its SMS simulator's spool read
as the person's phone), the virtual printer over TCP, and, for the face path, the kiosk's face
check on frames made from a photo of ../shared/data/faces answering the challenge asked (the
recorded session keeps the check's outcome, challenge and frame count, never a frame nor the
encoding; the central's verdict with its distance is in its answer).  The kiosk's clock is
virtual and moves only between steps.  The session is written with
:func:`kiosk.recording.session.write_plain`, its header marked for any app version and
configuration, with the ``# expect:`` line the replay test checks:

    python -m tests.scenarios.record_recovery_scenarios [NAME ...]
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from central.sms import latest_code, read_inbox
from kiosk.flows.recovery import Step
from kiosk.recording.session import write_plain
from tests.recording.live import LiveKiosk, live_kiosk
from tests.support.central_server import RunningCentral, start_central

HERE = Path(__file__).parent
FACES = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "faces"  # never copied here
STEP_TIMEOUT_S = 30.0
SEATS = itertools.count(1)


@dataclasses.dataclass
class Scenario:
    name: str
    note: str
    play: Callable[[Recording], None]
    expect_refusal: str = ""  # the refusal key the kiosk must show at the end ("" = tickets or a new code)
    face: bool = False  # needs the kiosk's face check (and a photo)


@dataclasses.dataclass
class Recording:
    kiosk: LiveKiosk
    central: RunningCentral
    phone: str
    order: dict[str, Any]
    refusals: list[str] = dataclasses.field(default_factory=list)

    @property
    def ui(self) -> Any:
        return self.kiosk.driver

    @property
    def flow(self) -> Any:
        return self.kiosk.runtime.recovery_flow

    @property
    def spool(self) -> Path:
        return Path(self.central.env["CENTRAL_SMS_SPOOL"])

    def step(self) -> None:
        """A second passes on the kiosk's clock, with nothing in flight."""
        self.kiosk.advance(1.0)
        self.kiosk.tick()

    def wait(self, *screens: str) -> None:
        self.ui.wait_for(lambda: self.ui.current_screen_name in screens, STEP_TIMEOUT_S)
        if self.ui.current_screen_name == "recovery.refused":
            self.refusals.append(self.flow.state.refusal.key)
        self.step()

    def start(self, face: bool) -> None:
        self.ui.tap("lost_button")
        self.wait("recovery.consent", "recovery.phone")
        if self.ui.current_screen_name == "recovery.consent":
            self.ui.tap("agree" if face else "use_sms")
            self.wait("recovery.phone")

    def type_phone(self, phone: str | None = None) -> None:
        self.ui.type_digits(phone or self.phone)
        self.ui.tap("submit")
        self.wait("recovery.orders", "recovery.refused")

    def choose_order(self, until: tuple[str, ...]) -> None:
        self.ui.tap(f"order_{self.order['order_id']}")
        self.wait(*until)

    def type_sms_code(self) -> None:
        code = latest_code(self.spool, self.phone, kind="recovery_code")
        assert code is not None, "no code reached the phone"
        self.ui.type_digits(code)
        self.ui.tap("submit")
        self.wait("recovery.delivery")

    def deliver(self, widget: str) -> None:
        self.ui.wait_for(lambda: self.ui.is_enabled(widget), STEP_TIMEOUT_S)
        self.ui.tap(widget)
        self.wait("recovery.done")
        self.ui.tap("finish")
        self.wait("home")

    def face_check(self, photo: str) -> None:
        """The person in front of the camera does what the kiosk asks (frames from ``photo``)."""
        from devices.sim.live_face import LiveFace

        self.ui.wait_for(lambda: self.flow.state.challenge is not None and self.flow.state.face_running,
                         STEP_TIMEOUT_S)
        person = LiveFace.from_file(str(FACES / photo))
        frames = itertools.chain(person.live(self.flow.state.challenge, neutral=6),
                                 (person.frame() for _ in range(60)))
        checker = getattr(self.kiosk.runtime.services.face_checker, "inner", None)
        source = self.kiosk.runtime.services.camera_frames
        assert checker is not None and source is not None
        for frame in frames:  # a person moves no faster than the check looks
            if not checker.running:
                break
            analysed = checker.analysed
            source.push(frame)
            self.ui.wait_for(lambda a=analysed: not checker.running or checker.analysed != a, STEP_TIMEOUT_S)
        self.ui.wait_for(lambda: not self.flow.state.face_running and self.flow.state.step is not Step.MATCHING,
                         STEP_TIMEOUT_S)
        self.step()

    def leave_refused(self) -> None:
        self.ui.tap("finish")
        self.wait("home")


def _sms_print(r: Recording) -> None:
    r.start(face=False)
    r.type_phone()
    r.choose_order(("recovery.sms_code",))
    r.type_sms_code()
    r.deliver("print_here")


def _sms_new_code(r: Recording) -> None:
    r.start(face=False)
    r.type_phone()
    r.choose_order(("recovery.sms_code",))
    r.type_sms_code()
    r.deliver("send_code")
    sent = [m for m in read_inbox(r.spool, r.phone) if m["kind"] == "pickup_code"]
    assert len(sent) == 1 and sent[0]["serial"] != r.order["serial"], sent


def _no_orders(r: Recording) -> None:
    r.start(face=False)
    r.type_phone("13799999999")  # no account: the same answer as an account without orders here today
    assert r.ui.current_screen_name == "recovery.refused"
    r.leave_refused()


def _face_print(r: Recording) -> None:
    r.start(face=True)
    r.type_phone()
    r.choose_order(("recovery.face",))
    r.face_check("obama_1.jpg")  # the same person as the template (obama_2.jpg), alive
    r.wait("recovery.delivery")
    r.deliver("print_here")


def _face_stranger_then_sms(r: Recording) -> None:
    r.start(face=True)
    r.type_phone()
    r.choose_order(("recovery.face",))
    r.face_check("biden_1.jpg")  # alive, and not the account holder
    assert r.flow.state.face_note is not None and r.flow.state.face_note.key == "recovery.face_not_matched"
    r.ui.tap("use_sms")
    r.wait("recovery.sms_code")
    r.type_sms_code()
    r.deliver("print_here")


SCENARIOS = [
    Scenario("recovery_sms_print", "lost tickets recovered by an SMS code (the face check declined on the consent "
             "screen): phone, the account's one order, the code from the SMS, printed here: 2 tickets, the lost code "
             "revoked",
             _sms_print),
    Scenario("recovery_sms_new_code", "lost tickets recovered by an SMS code, delivered as a new pickup code to "
             "the bound phone instead of printing: nothing printed, the lost code revoked", _sms_new_code),
    Scenario("recovery_face_print", "lost tickets recovered by face: consent, phone, the order, the face check "
             "(a live person, the account holder: frames from another photo than the enrolled one), printed here: "
             "2 tickets", _face_print, face=True),
    Scenario("recovery_face_stranger_then_sms", "a face check of someone else (alive): not recognised, 2 attempts "
             "left; the SMS code instead, printed here", _face_stranger_then_sms, face=True),
    Scenario("recovery_refusal_no_orders", "a phone with no collectable order at this cinema today: refused, "
             "check the number (the kiosk never says whether it has an account)", _no_orders,
             "refusal.recovery_no_orders"),
]


def record(scenario: Scenario, central: RunningCentral, work: Path, number: int) -> Path:
    folder = work / scenario.name
    phone = f"1371111{number:04d}"
    seats = ",".join(f"S{next(SEATS)}" for _ in range(2))
    order = central.cli_json("create-order", "--showing", central.demo["showings"]["soon"]["showing_id"],
                             "--seats", seats, "--phone", phone)
    if scenario.face:
        central.cli_json("faces", "enrol", "--phone", phone, str(FACES / "obama_2.jpg"),
                         "--consent-version", "face-consent-1")
    with live_kiosk(central, work / f"kiosk-{scenario.name}") as kiosk:
        kiosk.runtime.recorder.start(float("inf"), folder, from_start=False)
        recording = Recording(kiosk, central, phone, order)
        recording.step()
        scenario.play(recording)
        expected = [scenario.expect_refusal] if scenario.expect_refusal else []
        assert recording.refusals == expected, (scenario.name, recording.refusals)
        assert recording.flow.state.step is Step.IDLE
        kiosk.runtime.recorder.stop()
        session = kiosk.read(folder)
    _check_private(session, phone)
    return _keep(scenario, session)


def _check_private(session: Any, phone: str) -> None:
    """The session keeps no face: no frame, no encoding; the phone is never in a request body."""
    for event in session.events:
        if event.kind == "face":
            assert set(event.data) <= {"op", "challenge", "outcome", "frames", "seconds"}, event.data
        assert event.kind != "frame", "a camera frame was kept"
        if event.kind == "central":
            assert phone not in json.dumps(event.data.get("body")), event.data.get("path")
            assert "encoding" not in json.dumps(event.data.get("body")), event.data.get("path")


def _keep(scenario: Scenario, session: Any) -> Path:
    header = dataclasses.replace(session.header, app_version="any", config_digest="any", note=scenario.note)
    session = dataclasses.replace(session, header=header)
    screens = [str(e.data.get("screen")) for e in session.events if e.kind == "screen"]
    tickets = sum(1 for e in session.events if e.kind == "printer" and e.data.get("op") == "job")
    path = HERE / f"{scenario.name}.jsonl"
    write_plain(path, session)
    expect = {"screens": [s for i, s in enumerate(screens) if i == 0 or s != screens[i - 1]], "tickets": tickets}
    body = path.read_text(encoding="utf-8")
    path.write_text(f"# {scenario.note} (recorded on real parts: tests/scenarios/record_recovery_scenarios.py)\n"
                    f"# expect: {json.dumps(expect)}\n" + body, encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="scenarios to record (default: all)")
    args = parser.parse_args(argv)
    chosen = [s for s in SCENARIOS if not args.names or s.name in args.names]
    if any(s.face for s in chosen) and not (FACES / "manifest.csv").is_file():
        print(f"record_recovery_scenarios: the face scenarios need the photos in {FACES.resolve()}", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="recovery-scenarios-") as tmp:
        work = Path(tmp)
        central = start_central(f"sqlite:///{work / 'central.db'}", work, test_hooks=True,
                                env={"CENTRAL_SMS_GATEWAY": "spool", "CENTRAL_SMS_SPOOL": str(work / "sms.jsonl")})
        try:
            for number, scenario in enumerate(chosen, start=1):
                print(f"recorded {record(scenario, central, work, number)}", file=sys.stderr)
        finally:
            central.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
