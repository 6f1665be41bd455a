"""A face check as recorded and replayed: the outcome, challenge and frame count, never a frame nor an encoding."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from backend_client.wire import RecoveryDelivery
from devices.face_api import Challenge, FaceCheckResult, FaceOutcome, LivenessStep
from kiosk.config import load_config
from kiosk.flows.recovery import Step
from kiosk.recording.compare import first_difference
from kiosk.recording.face import PLACEHOLDER_ENCODING, RecordingFaceChecker, ReplayFaceChecker
from kiosk.recording.session import Event
from kiosk.services import KioskServices, ServiceHooks
from tests.integration.kiosk_rig import kiosk_overrides, write_credential
from tests.support.recovery_fakes import ENCODING, FakeFaceChecker, build_recovery_rig

CHALLENGE = Challenge((LivenessStep.TURN_RIGHT, LivenessStep.BLINK))


class _Events:
    def __init__(self) -> None:
        self.events: list[Event] = []

    def event(self, kind: str, **data: Any) -> None:
        self.events.append(Event(float(len(self.events)), kind, data))


def test_a_recorded_check_keeps_its_outcome_and_never_the_encoding() -> None:
    inner, recorder = FakeFaceChecker(), _Events()
    checker = RecordingFaceChecker(inner, recorder)
    seen: list[Any] = []
    checker.begin(CHALLENGE, seen.append)
    inner.progress()
    inner.finish(FaceOutcome.LIVE)
    assert isinstance(seen[-1], FaceCheckResult) and seen[-1].encoding == ENCODING  # the journey gets it
    assert [e.data for e in recorder.events] == [
        {"op": "begin", "challenge": "turn_right,blink"},
        {"op": "result", "outcome": "live", "challenge": "turn_right,blink", "frames": 42, "seconds": 4.2},
    ]
    assert "0.01" not in json.dumps([e.data for e in recorder.events])  # no number of the encoding
    checker.cancel()
    assert recorder.events[-1].data == {"op": "cancel"} and inner.cancelled == 1


def test_a_replayed_check_answers_as_recorded_with_the_recorded_challenges() -> None:
    events = [Event(1.0, "face", {"op": "begin", "challenge": "turn_right,blink"}),
              Event(5.0, "face", {"op": "result", "outcome": "live", "challenge": "turn_right,blink",
                                  "frames": 42, "seconds": 4.2}),
              Event(6.0, "face", {"op": "begin", "challenge": "blink,turn_left"}),
              Event(9.0, "face", {"op": "result", "outcome": "still_image", "challenge": "blink,turn_left",
                                  "frames": 30, "seconds": 3.0})]
    notes: list[str] = []
    replayed = ReplayFaceChecker(events, notes)
    assert replayed.next_challenge() == CHALLENGE
    got: list[Any] = []
    replayed.begin(CHALLENGE, got.append)
    replayed.feed(events[0])  # a begin is the journey's, not an input
    assert got == []
    replayed.feed(events[1])
    assert got == [FaceCheckResult(FaceOutcome.LIVE, CHALLENGE, PLACEHOLDER_ENCODING, 42, 4.2)]
    assert replayed.next_challenge() == Challenge.parse("blink,turn_left")
    replayed.feed(events[3])
    assert got[-1].outcome is FaceOutcome.STILL_IMAGE and got[-1].encoding is None
    assert notes == []


def test_a_broken_face_event_is_noted_not_fatal() -> None:
    notes: list[str] = []
    replayed = ReplayFaceChecker([], notes)
    replayed.begin(CHALLENGE, lambda _e: None)
    replayed.feed(Event(1.0, "face", {"op": "result", "outcome": "melted", "challenge": "blink"}))
    assert notes and "cannot be replayed" in notes[0]


def test_a_replay_that_begins_another_check_or_gets_another_outcome_differs() -> None:
    begin = Event(1.0, "face", {"op": "begin", "challenge": "blink,turn_left"})
    live = Event(2.0, "face", {"op": "result", "outcome": "live", "challenge": "blink,turn_left", "frames": 9,
                               "seconds": 1.5})
    assert first_difference([begin, live], [begin, Event(2.0, "face", {**live.data, "seconds": 1.7})]) is None
    other = Event(2.0, "face", {**live.data, "outcome": "still_image"})
    difference = first_difference([begin, live], [begin, other])
    assert difference is not None and difference.stream == "face"
    assert first_difference([begin, live], [live]) is not None


def test_the_journey_recorded_then_replayed_asks_the_central_the_same(tmp_path: Path) -> None:
    """The journey on a recording face check, then again on the replayed one: the same face events."""
    recorder = _Events()
    rig = build_recovery_rig(tmp_path / "recorded")
    rig.flow._face = RecordingFaceChecker(rig.face, recorder)
    rig.central.matches = [False, True]
    rig.flow.start()
    rig.flow.agree_to_face()
    for digit in "13812345678":
        rig.flow.press_digit(digit)
    rig.flow.submit()
    rig.flow.choose_order(rig.central.order.order_id)
    rig.face.finish(FaceOutcome.LIVE)
    rig.flow.retry_face()
    rig.face.finish(FaceOutcome.LIVE)
    assert rig.flow.state.step is Step.DELIVERY
    recorded = recorder.events

    notes: list[str] = []
    replay_face = ReplayFaceChecker(recorded, notes)
    again, replay_events = build_recovery_rig(tmp_path / "replayed"), _Events()
    again.flow._face = RecordingFaceChecker(replay_face, replay_events)
    again.flow._challenge = replay_face.next_challenge
    again.central.matches = [False, True]  # the central answers as it did
    again.flow.start()
    again.flow.agree_to_face()
    for digit in "13812345678":
        again.flow.press_digit(digit)
    again.flow.submit()
    again.flow.choose_order(again.central.order.order_id)
    for event in recorded:
        if event.data.get("op") == "result":
            replay_face.feed(event)
            if again.flow.state.can_retry_face:
                again.flow.retry_face()
    assert again.flow.state.step is Step.DELIVERY and notes == []
    assert first_difference(recorded, replay_events.events) is None
    assert [a.liveness.challenge for _, a, _ in again.central.attempts] == \
        [a.liveness.challenge for _, a, _ in rig.central.attempts]
    again.flow.choose_delivery(RecoveryDelivery.SMS)
    assert again.flow.state.step is Step.DONE


def test_the_services_record_the_face_check_and_a_replay_never_builds_the_camera_one(tmp_path: Path) -> None:
    credential = write_credential(tmp_path / "kiosk.credential", "kiosk-test.secret-of-the-test")
    inner = FakeFaceChecker()
    services = KioskServices(load_config(None, kiosk_overrides("http://127.0.0.1:9", credential, tmp_path / "data",
                                                               9)), hooks=ServiceHooks(face_checker=inner))
    flow = services.build_recovery_flow(_Inline(), language=lambda: "en")
    assert flow is not None and flow.face_available
    recorder = _Events()
    services.observe_face(recorder)  # after the flow was built, as the recorder attaches
    assert isinstance(services.face_checker, RecordingFaceChecker)
    face = flow._face  # the flow's handle on the services' face check, whatever wraps it now
    assert face is not None
    face.begin(CHALLENGE, lambda _e: None)
    assert recorder.events and recorder.events[0].data["op"] == "begin"
    services.stop()


def test_recovery_disabled_builds_no_journey(tmp_path: Path) -> None:
    credential = write_credential(tmp_path / "kiosk.credential", "kiosk-test.secret-of-the-test")
    services = KioskServices(load_config(None, kiosk_overrides("http://127.0.0.1:9", credential, tmp_path / "data", 9,
                                                               **{"recovery.enabled": False})))
    assert services.build_recovery_flow(_Inline(), language=lambda: "en") is None
    services.stop()


class _Inline:
    def submit(self, job: Any, done: Any) -> None:
        done(job(), None)

    def post(self, callback: Any) -> None:
        callback()
