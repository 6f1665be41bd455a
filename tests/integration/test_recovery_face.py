"""Recovering lost tickets by face: the kiosk's real face check (face_recognition, the liveness challenge) on
frames made from real photos of ../shared/data/faces, the real central over HTTP (SQLite and PostgreSQL)
comparing the encoding with the template it enrolled from another photo, the virtual printer on TCP."""

from __future__ import annotations

import csv
import queue
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np
import pytest

from backend_client.wire import RecoveryDelivery, RecoveryMethod
from central.sms import latest_code
from kiosk.flows.pickup import Step as PickupStep
from kiosk.flows.recovery import RecoveryFlow, Step
from tests.integration.conftest import StartKiosk
from tests.integration.kiosk_rig import KioskRig, central_ticket_states, message_key, printed_ticket_ids
from tests.integration.recovery_support import bound_order, new_phone, recovery_flow, sms_central, spool_of, type_digits
from tests.shared_data import FACES_DIR, require_shared
from tests.support.central_server import RunningCentral

__all__ = ["sms_central"]  # the module's central (a fixture)

CHECK_WAIT_S = 60.0  # real seconds for one face check and the central's verdict (2 shared cores)
CONSENT = "face-consent-1"  # the kiosk's default consent text version


def photo(name: str) -> Path:
    folder = require_shared(FACES_DIR)
    with (folder / "manifest.csv").open(encoding="utf-8") as handle:
        files = {row["file"] for row in csv.DictReader(handle)}
    assert name in files, f"{name} is not in {folder / 'manifest.csv'}"
    return folder / name


@pytest.fixture
def kiosk(sms_central: RunningCentral, start_kiosk: StartKiosk) -> KioskRig:
    kiosk = start_kiosk(sms_central, settings={"recovery.face_timeout_s": 40.0})
    assert kiosk.services.face_checker is not None, "the kiosk has no face check (devices.face_check)"
    return kiosk


class MainLoop:
    """The test's stand-in for Kivy's loop: the face check's news is queued, then run here, in order."""

    def __init__(self) -> None:
        self.posted: queue.Queue[Callable[[], None]] = queue.Queue()

    def post(self, callback: Callable[[], None]) -> None:
        self.posted.put(callback)

    def until_checked(self, flow: RecoveryFlow) -> None:
        """Run the check's news until it ended and the central answered."""
        while flow.state.step is Step.FACE and flow.state.face_running:
            self.posted.get(timeout=CHECK_WAIT_S)()


def show(kiosk: KioskRig, frames: Iterable[np.ndarray]) -> None:
    """A person in front of the camera: the next pose once the check has looked at this one."""
    source, checker = kiosk.services.camera_frames, kiosk.services.face_checker
    assert source is not None and checker is not None
    for frame in frames:
        analysed = getattr(checker, "analysed", 0)
        source.push(frame)
        deadline = time.monotonic() + CHECK_WAIT_S
        while getattr(checker, "running", False) and getattr(checker, "analysed", 0) == analysed:
            assert time.monotonic() < deadline, "the face check did not look at the frame"
            time.sleep(0.01)
        if not getattr(checker, "running", False):
            return


def live_frames(path: Path, flow: RecoveryFlow) -> Iterator[np.ndarray]:
    """A live person doing the challenge asked, then looking at the camera until the check ends."""
    from devices.sim.live_face import LiveFace

    assert flow.state.challenge is not None
    person = LiveFace.from_file(str(path))
    yield from person.live(flow.state.challenge, neutral=6)
    for _ in range(60):
        yield person.frame()


def to_face(kiosk: KioskRig, loop: MainLoop, phone: str, order_id: str) -> RecoveryFlow:
    flow = recovery_flow(kiosk, face_post=loop.post)
    flow.start()
    assert flow.state.step is Step.CONSENT
    flow.agree_to_face()
    type_digits(flow, phone)
    flow.submit()
    assert flow.state.step is Step.ORDERS, (flow.state.refusal, flow.state.refusal_hint)
    assert kiosk_sent_consent(flow)
    flow.choose_order(order_id)
    assert flow.state.step is Step.FACE and flow.state.face_running, flow.state
    return flow


def kiosk_sent_consent(flow: RecoveryFlow) -> bool:
    session = flow.state.session
    return session is not None and RecoveryMethod.FACE in session.methods


def enrol(central: RunningCentral, phone: str, image: Path) -> None:
    central.cli_json("faces", "enrol", "--phone", phone, str(image), "--consent-version", CONSENT)


def test_the_same_person_on_another_photo_is_recognised_and_the_tickets_print(
    sms_central: RunningCentral, kiosk: KioskRig
) -> None:
    central, phone, loop = sms_central, new_phone(), MainLoop()
    order = bound_order(central, phone)
    enrol(central, phone, photo("obama_2.jpg"))
    flow = to_face(kiosk, loop, phone, order["order_id"])

    show(kiosk, live_frames(photo("obama_1.jpg"), flow))
    loop.until_checked(flow)
    state = flow.state
    assert state.step is Step.DELIVERY, (state.face_note, state.refusal)
    assert state.verified_by is RecoveryMethod.FACE and state.distance is not None

    flow.choose_delivery(RecoveryDelivery.PRINT)
    done = flow.state
    assert (done.step, done.printed, done.owed, done.in_doubt) == (Step.DONE, 2, 0, 0)
    assert sorted(printed_ticket_ids(kiosk.printer.wait_for_jobs(2))) == sorted(order["ticket_ids"])
    assert set(central_ticket_states(central, order["order_id"]).values()) == {"printed"}
    kiosk.look_up(order)  # the lost code: refused at once
    assert kiosk.flow.state.step is PickupStep.REFUSED and message_key(kiosk.flow.state.refusal) == "refusal.revoked"


def test_a_stranger_is_not_recognised_then_the_sms_code_works(sms_central: RunningCentral, kiosk: KioskRig) -> None:
    central, phone, loop = sms_central, new_phone(), MainLoop()
    order = bound_order(central, phone, seats=1)
    enrol(central, phone, photo("obama_2.jpg"))
    flow = to_face(kiosk, loop, phone, order["order_id"])

    show(kiosk, live_frames(photo("biden_1.jpg"), flow))  # alive, and someone else
    loop.until_checked(flow)
    state = flow.state
    assert state.step is Step.FACE and not state.face_running
    assert message_key(state.face_note) == "recovery.face_not_matched" and state.face_attempts_left == 2
    assert state.distance is not None and state.distance > 0.45

    flow.switch_to_sms()
    assert flow.state.step is Step.SMS_CODE
    type_digits(flow, latest_code(spool_of(central), phone, kind="recovery_code") or "")
    flow.submit()
    assert flow.state.step is Step.DELIVERY and flow.state.verified_by is RecoveryMethod.SMS


def test_the_enrolled_persons_photo_held_up_is_refused_and_counts_as_an_attempt(
    sms_central: RunningCentral, kiosk: KioskRig
) -> None:
    from devices.sim.live_face import Attack, LiveFace

    central, phone, loop = sms_central, new_phone(), MainLoop()
    order = bound_order(central, phone, seats=1)
    enrol(central, phone, photo("obama_2.jpg"))
    flow = to_face(kiosk, loop, phone, order["order_id"])

    show(kiosk, LiveFace.from_file(str(photo("obama_1.jpg"))).attack(Attack.MOVED, frames=40))
    loop.until_checked(flow)
    state = flow.state
    assert state.step is Step.FACE and state.verified_by is None
    assert state.face_note is not None and state.face_note.key in ("recovery.face_still_image",
                                                                   "recovery.face_timed_out")
    assert state.face_attempts_left == 2  # the central counted it
    assert state.distance is None  # nothing was compared
