"""The demo's lost-ticket recovery (挂失找回), played headless through the real screens.

The face path: the demo account's face template is enrolled at the central from one photo of a
person in ``../shared/data/faces`` (never copied into the repository), and the simulated camera
shows frames of a live person made from ANOTHER photo of the same person (devices.sim.live_face)
doing the challenge the kiosk asked.  The tickets print on the virtual printer; then the order's
old pickup code is typed on the pickup journey and refused, as a finder of the lost phone would
see it.  Without that folder (or without the face models) the demo plays the SMS code path
instead, reading the code from the central's SMS simulator, and says so on stderr in one line.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[1]
FACES_DIR = REPO_ROOT.parent / "shared" / "data" / "faces"
# Two different photos of one person, 0.35 apart by face_recognition (the match threshold is well
# above; the live frames made from the second come out 0.35 from the first too):
# the template is enrolled from the first, the camera shows the second.
ENROL_PHOTO, CAMERA_PHOTO = "obama_1.jpg", "obama_4.jpg"
FRAME_PERIOD_S = 0.1  # the simulated camera's pace: about 10 frames a second, as the kiosk's camera
ANALYSIS_WAIT_S = 0.3  # how long a frame waits for the face check to look at it before the next comes
ASKING = frozenset({"blink", "turn_left", "turn_right"})  # prompts that ask a step of the challenge


@dataclass(frozen=True)
class RecoveryPlan:
    """How the demo proves who the person is: the face (two photos) or, failing those, an SMS code."""

    enrol_photo: Path | None = None
    camera_photo: Path | None = None
    why_sms: str = ""  # why the SMS code path is played ("" for the face path)

    @property
    def face(self) -> bool:
        return self.enrol_photo is not None and self.camera_photo is not None


def plan(faces_dir: Path = FACES_DIR) -> RecoveryPlan:
    enrol, camera = faces_dir / ENROL_PHOTO, faces_dir / CAMERA_PHOTO
    if enrol.is_file() and camera.is_file():
        return RecoveryPlan(enrol, camera)
    return RecoveryPlan(why_sms=f"no face photos at {faces_dir} (../shared/data/faces beside the repository)")


def say_sms_path(reason: str) -> None:
    """One line on stderr, whatever the reason holds (a central's log tail has several)."""
    line = " ".join(reason.split())
    if len(line) > 300:
        line = line[:297] + "..."
    print(f"kiosk demo: the recovery journey plays the SMS code path: {line}", file=sys.stderr)


Snap = Callable[[str], None]


def recovery_journey(driver: Any, runtime: Any, record: Any, demo: dict[str, Any], chosen: RecoveryPlan,
                     sms_spool: Path | None, snap: Snap, step_timeout_s: float) -> None:
    """"Lost your ticket?", consent, the account's phone, its order, the face (or the SMS code),
    print here, done; then the old pickup code refused on the pickup journey."""
    flow = runtime.recovery_flow
    if flow is None:
        raise RuntimeError("the recovery journey is off (recovery.enabled)")
    account = demo["recovery"]["face"]
    order_id = account["order_ids"][0]
    face = chosen.face and flow.face_available
    if chosen.face and not face:
        say_sms_path("the kiosk has no face check (the log says why)")
    driver.wait_for("home", step_timeout_s)
    snap("")
    driver.tap("lost_button")
    driver.wait_for(lambda: driver.current_screen_name in ("recovery.consent", "recovery.phone"), step_timeout_s)
    if driver.current_screen_name == "recovery.consent":
        snap("consent")
        driver.tap("agree" if face else "use_sms")
        driver.wait_for("recovery.phone", step_timeout_s)
    driver.type_digits(account["phone"])
    snap("phone")
    driver.tap("submit")
    _until_screen(driver, ("recovery.orders", "recovery.id_digits"), step_timeout_s)
    if driver.current_screen_name == "recovery.id_digits":  # the chain asks the ID number's last 4 too
        driver.type_digits(account["id_last4"])
        snap("id_digits")
        driver.tap("submit")
        _until_screen(driver, ("recovery.orders",), step_timeout_s)
    driver.wait_for(lambda: _shown(driver, f"order_{order_id}"), step_timeout_s)
    snap("orders")
    driver.tap(f"order_{order_id}")
    if face:
        _face(driver, runtime, flow, chosen, snap, step_timeout_s)
    else:
        _sms_code(driver, flow, account["phone"], sms_spool, snap, step_timeout_s)
    _until_screen(driver, ("recovery.delivery",), step_timeout_s)
    driver.wait_for(lambda: driver.is_enabled("print_here"), step_timeout_s)
    snap("delivery")
    driver.tap("print_here")
    _until_screen(driver, ("recovery.printing", "recovery.done"), step_timeout_s)
    if driver.current_screen_name == "recovery.printing":  # a fast printer may finish before a frame is drawn
        snap("printing")
    _until_screen(driver, ("recovery.done",), step_timeout_s)
    snap("done")
    state = flow.state
    record.tickets = state.printed
    record.verified_by = state.verified_by.value if state.verified_by is not None else ""
    driver.tap("finish")
    driver.wait_for("home", step_timeout_s)
    if state.printed == 0 or state.owed or state.in_doubt:
        raise RuntimeError(f"{state.printed} printed, {state.owed} owed, {state.in_doubt} in doubt")


def old_code_refused(driver: Any, order: dict[str, Any], snap: Snap, step_timeout_s: float) -> str:
    """The recovered order's old pickup code typed on the pickup journey: refused (revoked).  Returns
    the refusal's text."""
    driver.wait_for("home", step_timeout_s)
    driver.tap("collect_button")
    driver.wait_for("pickup.enter_code", step_timeout_s)
    driver.type_digits(order["serial"] + order["verification"])
    driver.tap("submit")
    driver.wait_for(lambda: driver.current_screen_name in ("pickup.review", "pickup.refused"), step_timeout_s)
    snap("old_code")
    if driver.current_screen_name != "pickup.refused":
        raise RuntimeError("the old pickup code still works after the recovery")
    message = driver.text_of("message")
    driver.tap("nav_cancel")
    driver.wait_for("home", step_timeout_s)
    return str(message)


def _face(driver: Any, runtime: Any, flow: Any, chosen: RecoveryPlan, snap: Snap, step_timeout_s: float) -> None:
    """The person in front of the camera does what the kiosk asks, until the check ends."""
    from devices.sim.live_face import LiveFace

    _until_screen(driver, ("recovery.face",), step_timeout_s)
    driver.wait_for(lambda: flow.state.challenge is not None, step_timeout_s)
    camera = runtime.services.camera_frames
    if camera is None:
        raise RuntimeError("the demo kiosk has no simulated camera")
    assert chosen.camera_photo is not None
    person = LiveFace.from_file(str(chosen.camera_photo))
    deadline = time.monotonic() + 4 * step_timeout_s  # up to three attempts, each with its own timeout
    snapped = False
    while flow.state.step.value == "face" and time.monotonic() < deadline:
        if not flow.state.face_running:  # an attempt failed (not matched, not live): try again
            if flow.state.can_retry_face:
                snap("face_retry")
                driver.tap("retry")
                continue
            break
        challenge = flow.state.challenge
        for frame in person.live(challenge):
            if flow.state.step.value != "face" or not flow.state.face_running or flow.state.challenge != challenge:
                break
            analysed = getattr(runtime.services.face_checker, "analysed", None)
            camera.push(frame)
            _pace(driver, camera, runtime.services.face_checker, analysed)
            news = flow.state.face
            if not snapped and news is not None and news.box is not None and news.prompt.value in ASKING:
                snap("face")  # the overlay: the live preview, the face's box, a step of the challenge asked
                snapped = True
    if not snapped:
        snap("face")
    if flow.state.step.value == "face":
        raise RuntimeError("the face check did not pass: " + " / ".join(driver.visible_texts()[:6]))


def _pace(driver: Any, camera: Any, checker: Any, analysed_before: int | None) -> None:
    """Let the camera take the frame, and the face check look at it (a busy check keeps only the
    newest frame: a slow machine would miss a blink), at the camera's pace, while the screens draw."""
    started = time.monotonic()

    def taken() -> bool:
        if camera.pending:
            return time.monotonic() - started >= 2.0
        analysed = getattr(checker, "analysed", None)
        # Not much longer than a frame or two: the challenge must still be done within its time.
        return analysed_before is None or analysed is None or analysed != analysed_before \
            or time.monotonic() - started >= ANALYSIS_WAIT_S

    while not taken():
        driver.pump(1)
        time.sleep(0.01)
    rest = FRAME_PERIOD_S - (time.monotonic() - started)
    if rest > 0:
        time.sleep(rest)
    driver.pump(1)


def _sms_code(driver: Any, flow: Any, phone: str, sms_spool: Path | None, snap: Snap, step_timeout_s: float) -> None:
    """The code from the central's SMS simulator (the person's phone), typed on the keypad."""
    from central.sms import latest_code

    if sms_spool is None:
        raise RuntimeError("the demo central has no SMS simulator")
    _until_screen(driver, ("recovery.sms_code",), step_timeout_s)
    code: list[str | None] = [None]

    def arrived() -> bool:
        code[0] = latest_code(sms_spool, phone, "recovery_code") if sms_spool.exists() else None
        return code[0] is not None

    driver.wait_for(arrived, step_timeout_s)
    assert code[0] is not None
    driver.type_digits(code[0])
    snap("sms_code")
    driver.tap("submit")


def _until_screen(driver: Any, names: tuple[str, ...], timeout_s: float) -> None:
    """Wait for one of ``names``; a refusal on the way ends the journey with its text."""
    driver.wait_for(lambda: driver.current_screen_name in (*names, "recovery.refused"), timeout_s)
    if driver.current_screen_name == "recovery.refused" and "recovery.refused" not in names:
        raise RuntimeError("the kiosk refused the recovery: " + " / ".join(driver.visible_texts()[:4]))


def _shown(driver: Any, widget_id: str) -> bool:
    from kiosk.ui_driver import UiDriverError

    try:
        driver.find(widget_id)
    except UiDriverError:
        return False
    return True
