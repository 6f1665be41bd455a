"""The face check's thread beside the real camera scanner (simulated camera, real face analysis)."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from devices.camera import CameraConfig, CameraQrScanner, InjectedFrameSource
from devices.camera_api import DecodedCode
from devices.face import FaceAnalysis
from devices.face_api import Challenge, FaceCheckResult, FaceOutcome, FaceProgress
from devices.face_check import CameraFaceChecker
from devices.health import HEALTH_OK
from devices.liveness import LivenessConfig
from devices.sim.live_face import LiveFace

WAIT = 60.0  # generous: only a hung check would take this long
CHALLENGE = Challenge.parse("blink,turn_left")


class Events:
    def __init__(self) -> None:
        self.items: list[object] = []
        self.done = threading.Event()

    def __call__(self, event: object) -> None:
        self.items.append(event)
        if isinstance(event, FaceCheckResult):
            self.done.set()

    @property
    def results(self) -> list[FaceCheckResult]:
        return [e for e in self.items if isinstance(e, FaceCheckResult)]


@pytest.fixture
def camera():
    source = InjectedFrameSource(capacity=64)
    scanner = CameraQrScanner(CameraConfig(source="injected", fps=30), source=source)
    scanner.start(lambda code: None)
    yield scanner, source
    scanner.stop()


@pytest.fixture(scope="module")
def obama(faces_dir, analyser) -> LiveFace:
    return LiveFace.from_file(str(faces_dir / "obama_1.jpg"), analyser=analyser)


def test_a_live_person_in_front_of_the_camera_passes_with_one_result(camera, obama):
    scanner, source = camera
    checker = CameraFaceChecker(scanner)  # as the kiosk makes it: encodings in a child process
    checker.prepare()
    events = Events()
    checker.begin(CHALLENGE, events)
    assert scanner.face_sink is not None
    try:
        _perform(checker, source, obama, events)
    finally:
        checker.close()
    assert [r.outcome for r in events.results] == [FaceOutcome.LIVE]
    assert events.results[0].encoding is not None and len(events.results[0].encoding) == 128
    progress = [e for e in events.items if isinstance(e, FaceProgress)]
    assert progress and progress[-1].box is not None and max(p.steps_done for p in progress) >= 1
    # The camera is the QR scanner's again, and no frame is kept.
    assert scanner.face_sink is None and checker.preview() is None


def _perform(checker: CameraFaceChecker, source: InjectedFrameSource, obama: LiveFace, events: Events) -> None:
    for frame in obama.live(CHALLENGE, neutral=6):
        # A person moves no faster than the check looks: the next pose once this one is analysed.
        analysed = checker.analysed
        source.push(frame)
        while checker.running and checker.analysed == analysed:
            threading.Event().wait(0.01)
    while not events.done.is_set() and checker.running:
        source.push(obama.frame())
        events.done.wait(0.1)
    assert events.done.wait(WAIT)
    checker._thread.join(WAIT)  # type: ignore[union-attr]


def test_while_a_check_runs_frames_are_neither_decoded_nor_observed(camera, obama, analyser):
    scanner, source = camera
    observed: list[object] = []
    scanner.frame_observer = lambda gray, codes: observed.append(gray)
    checker = CameraFaceChecker(scanner, analyser)
    events = Events()
    checker.begin(CHALLENGE, events)
    seen_before = scanner.frames_seen
    source.push(obama.frame())
    while scanner.frames_seen == seen_before:
        threading.Event().wait(0.01)
    preview = checker.preview()
    assert preview is not None and preview.shape[1] == 320 and preview.shape[2] == 3
    checker.cancel()
    assert events.done.wait(WAIT)
    assert [r.outcome for r in events.results] == [FaceOutcome.CANCELLED]
    assert observed == []


def test_a_stopped_camera_is_unavailable(analyser):
    scanner = CameraQrScanner(CameraConfig(source="injected"), source=InjectedFrameSource())
    checker = CameraFaceChecker(scanner, analyser)
    events = Events()
    checker.begin(CHALLENGE, events)
    assert events.done.wait(WAIT)
    assert [r.outcome for r in events.results] == [FaceOutcome.CAMERA_UNAVAILABLE]
    assert scanner.face_sink is None


def test_an_unplugged_camera_ends_the_check_as_unavailable(camera, analyser):
    scanner, source = camera
    checker = CameraFaceChecker(scanner, analyser, frame_wait_s=0.3)
    events = Events()
    checker.begin(CHALLENGE, events)
    source.unplug()
    assert events.done.wait(WAIT)
    assert [r.outcome for r in events.results] == [FaceOutcome.CAMERA_UNAVAILABLE]


class GatedAnalyser:
    """Blocks in analyse() until released: the slowest analysis there could be."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.calls = 0

    def analyse(self, frame: np.ndarray) -> FaceAnalysis:
        self.calls += 1
        self.entered.set()
        self.release.wait(WAIT)
        return FaceAnalysis((640, 480), (), None, 1.0)

    def encode_last(self) -> None:
        return None

    def forget(self) -> None:
        pass


class StubCamera:
    face_sink = None

    def health(self):
        return HEALTH_OK


def test_latest_frame_wins_and_the_camera_never_waits_for_the_analysis():
    gated = GatedAnalyser()
    checker = CameraFaceChecker(StubCamera(), gated)  # type: ignore[arg-type]
    events = Events()
    checker.begin(CHALLENGE, events)
    checker.feed(np.zeros((480, 640, 3), np.uint8))
    assert gated.entered.wait(WAIT)
    # The analysis is stuck: 100 more frames are taken at once, each replacing the last.
    for value in range(100):
        checker.feed(np.full((480, 640, 3), value, np.uint8))
    assert checker.dropped == 99
    preview = checker.preview()
    assert preview is not None and int(preview[0, 0, 0]) == 99
    checker.cancel()
    gated.release.set()
    assert events.done.wait(WAIT)
    assert gated.calls <= 2  # the first frame and at most the latest one
    assert [r.outcome for r in events.results] == [FaceOutcome.CANCELLED]


def test_one_check_at_a_time_and_each_begin_has_its_own_result():
    gated = GatedAnalyser()
    gated.release.set()
    checker = CameraFaceChecker(StubCamera(), gated, LivenessConfig(timeout_s=0.5, no_face_s=0.2))  # type: ignore[arg-type]
    first, second = Events(), Events()
    checker.begin(CHALLENGE, first)
    with pytest.raises(RuntimeError):
        checker.begin(CHALLENGE, second)
    assert first.done.wait(WAIT)
    checker._thread.join(WAIT)  # type: ignore[union-attr]
    checker.begin(CHALLENGE, second)
    assert second.done.wait(WAIT)
    checker._thread.join(WAIT)  # type: ignore[union-attr]
    assert [r.outcome for r in first.results] == [FaceOutcome.NO_FACE]
    assert [r.outcome for r in second.results] == [FaceOutcome.NO_FACE]


def test_a_failing_listener_does_not_stop_the_check():
    gated = GatedAnalyser()
    gated.release.set()
    checker = CameraFaceChecker(StubCamera(), gated, LivenessConfig(timeout_s=0.5, no_face_s=0.2))  # type: ignore[arg-type]
    done = threading.Event()

    def listener(event: object) -> None:
        if isinstance(event, FaceCheckResult):
            done.set()
        raise RuntimeError("screen bug")

    checker.begin(CHALLENGE, listener)
    checker.feed(np.zeros((480, 640, 3), np.uint8))
    assert done.wait(WAIT)


def test_a_failing_face_sink_does_not_stop_the_camera_and_qr_codes_come_back_after(camera):
    from devices.sim.qr_frames import qr_frame

    scanner, source = camera
    codes: list[str] = []
    got_code = threading.Event()

    def on_code(code: DecodedCode) -> None:
        codes.append(code.text)
        got_code.set()

    scanner.stop()
    scanner.start(on_code)
    seen: list[int] = []

    def broken_sink(frame: np.ndarray) -> None:
        seen.append(frame.ndim)
        raise RuntimeError("face check bug")

    scanner.face_sink = broken_sink
    source.push(qr_frame("TICKET-1"))
    while not seen:
        threading.Event().wait(0.01)
    assert seen == [3] and codes == []  # the colour frame went to the face check, not the decoder
    scanner.face_sink = None
    source.push(qr_frame("TICKET-1"))
    assert got_code.wait(WAIT)
    assert codes == ["TICKET-1"] and scanner.running
