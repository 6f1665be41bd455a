"""The liveness state machine on synthetic landmark streams (no images, no models: fast)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from devices.face import FaceAnalysis
from devices.face_api import Challenge, FaceCheckResult, FaceOutcome, FaceProgress, FacePrompt
from devices.liveness import LivenessCheck, LivenessConfig, eye_aspect_ratio, nonrigid_residual, yaw

FRAME = (640, 480)
ME = np.ones(128) * 0.1
SOMEONE_ELSE = ME + 0.1  # 1.13 apart


def face(closed: float = 0.0, turn: float = 0.0) -> np.ndarray:
    """68 landmarks of a frontal face 200 px wide: eyes ``closed`` 0..1, nose moved by ``turn`` (+: person's left)."""
    points = np.zeros((68, 2))
    for i in range(17):  # the outline, ear to ear over the chin
        angle = math.pi * i / 16
        points[i] = (-100 * math.cos(angle), 40 + 100 * math.sin(angle) * 0.9)
    points[17:27] = [(-80 + 16 * i, -40) for i in range(10)]
    for start, cx in ((36, -40), (42, 40)):
        half_height = 7 * (1 - closed) + 0.5
        points[start:start + 6] = [(cx - 18, 0), (cx - 6, -half_height), (cx + 6, -half_height),
                                   (cx + 18, 0), (cx + 6, half_height), (cx - 6, half_height)]
    points[27:36] = [(0, -20 + 10 * i) for i in range(4)] + [(-12 + 6 * i, 24) for i in range(5)]
    points[27:36, 0] += turn * 30 * np.linspace(0.3, 1.0, 9)
    points[30, 0] = turn * 30
    points[48:68] = [(-30 + 3 * i, 60 + (i % 4)) for i in range(20)]
    return points


def placed(points: np.ndarray, angle: float = 0.0, scale: float = 1.0, dx: float = 320,
           dy: float = 240) -> FaceAnalysis:
    c, s = math.cos(math.radians(angle)), math.sin(math.radians(angle))
    moved = scale * points @ np.array([[c, s], [-s, c]]) + (dx, dy)
    x0, y0 = moved.min(axis=0)
    x1, y1 = moved.max(axis=0)
    box = (int(x0), int(y0), int(x1 - x0), int(y1 - y0))
    return FaceAnalysis(FRAME, (box,), moved, 1.0)


NOBODY = FaceAnalysis(FRAME, (), None, 1.0)
TWO = FaceAnalysis(FRAME, ((10, 10, 150, 150), (300, 10, 150, 150)), None, 1.0)


def run(challenge: str, frames: list[FaceAnalysis], encodings: list[np.ndarray] | None = None,
        config: LivenessConfig | None = None, fps: float = 10.0) -> FaceCheckResult:
    check = LivenessCheck(Challenge.parse(challenge), 0.0, config)
    given = iter(encodings or [])
    t = 0.0
    for i, analysis in enumerate(frames):
        t = i / fps
        event = check.feed(t, analysis, lambda: next(given, ME))
        if isinstance(event, FaceCheckResult):
            return event
    return check.timeout(max(t, check.config.timeout_s))


def live(challenge: str) -> list[FaceAnalysis]:
    frames = [placed(face())] * 4
    for step in challenge.split(","):
        if step == "blink":
            frames += [placed(face(c)) for c in (0.5, 1.0, 0.5, 0.0, 0.0)]
        else:
            side = 1 if step == "turn_left" else -1
            frames += [placed(face(turn=side * a)) for a in (0.5, 1.0, 1.0, 0.5, 0.0, 0.0)]
    return frames + [placed(face())] * 3


def test_measures_are_unchanged_by_moving_scaling_rotating_the_face():
    points = face(0.3, 0.4)
    for moved in (placed(points, 25, 0.6, 100, 50), placed(points, -30, 1.7)):
        assert moved.landmarks is not None
        assert eye_aspect_ratio(moved.landmarks) == pytest.approx(eye_aspect_ratio(points + 5))
        assert yaw(moved.landmarks) == pytest.approx(yaw(points + 5))
        assert nonrigid_residual(moved.landmarks, points) == pytest.approx(0.0, abs=1e-9)
    assert nonrigid_residual(face(0.5, 0.5), face()) > LivenessConfig().still_residual


def test_turning_to_ones_left_moves_the_nose_to_the_image_right():
    assert yaw(face(turn=1.0)) > 0.1 > -0.1 > yaw(face(turn=-1.0))


@pytest.mark.parametrize("challenge", ["blink,turn_left", "turn_left,blink", "blink,turn_right", "turn_right,blink"])
def test_a_live_face_doing_the_challenge_passes_with_an_encoding_taken_during_it(challenge):
    result = run(challenge, live(challenge))
    assert result.outcome is FaceOutcome.LIVE
    assert result.encoding == tuple(ME)
    assert result.challenge.text == challenge


def test_the_steps_count_only_in_the_challenges_order_and_side():
    assert run("blink,turn_right", live("blink,turn_left")).outcome is FaceOutcome.TIMED_OUT
    assert run("turn_left,blink", live("blink,turn_left")).outcome is FaceOutcome.TIMED_OUT


@pytest.mark.parametrize("motion", ["repeated", "moved", "scaled", "rotated"])
def test_a_still_photo_moved_in_the_image_plane_is_refused_as_a_still_image(motion):
    frames = []
    for i in range(250):
        phase = 2 * math.pi * i / 40
        kwargs = {"repeated": {}, "moved": {"dx": 320 + 60 * math.sin(phase)},
                  "scaled": {"scale": 1 + 0.3 * math.sin(phase)}, "rotated": {"angle": 20 * math.sin(phase)}}[motion]
        frames.append(placed(face(), **kwargs))
    result = run("blink,turn_left", frames)
    assert result.outcome is FaceOutcome.STILL_IMAGE
    assert result.encoding is None


def test_nobody_is_no_face_and_a_face_that_never_does_the_steps_times_out():
    assert run("blink,turn_left", [NOBODY] * 120).outcome is FaceOutcome.NO_FACE
    # Moves like a face (half blinks, glances) but never completes a step.
    fidgets = [placed(face(0.5 * (i % 2), 0.5 * (i % 2))) for i in range(250)]
    assert run("blink,turn_left", fidgets).outcome is FaceOutcome.TIMED_OUT


def test_several_faces_for_a_while_end_the_check():
    result = run("blink,turn_left", [placed(face())] * 3 + [TWO] * 40)
    assert result.outcome is FaceOutcome.SEVERAL_FACES


def test_a_second_face_for_a_moment_only_restarts_the_steps():
    frames = live("blink,turn_left")
    check = LivenessCheck(Challenge.parse("blink,turn_left"), 0.0)
    events = [check.feed(i / 10, a, lambda: ME) for i, a in enumerate([*frames[:10], TWO, *frames])]
    assert any(isinstance(e, FaceProgress) and e.prompt is FacePrompt.ONE_FACE for e in events)
    progress = [e for e in events if isinstance(e, FaceProgress)]
    assert progress[9].steps_done == 1 and progress[10].steps_done == 0
    assert isinstance(events[-1], FaceCheckResult) and events[-1].outcome is FaceOutcome.LIVE


def test_another_face_at_the_end_is_face_changed():
    # The reference encoding is the person's, the ones after the steps someone else's.
    result = run("blink,turn_left", live("blink,turn_left"), [ME] + [SOMEONE_ELSE] * 10)
    assert result.outcome is FaceOutcome.FACE_CHANGED
    assert result.encoding is None


def test_a_face_that_jumps_across_the_frame_starts_again():
    frames = live("blink,turn_left")
    jumped = frames[:9] + [placed(face(), dx=100)] * 3  # blink done, then a face elsewhere
    check = LivenessCheck(Challenge.parse("blink,turn_left"), 0.0)
    events = [check.feed(i / 10, a, lambda: ME) for i, a in enumerate(jumped)]
    assert isinstance(events[8], FaceProgress) and events[8].steps_done == 1
    assert isinstance(events[-1], FaceProgress) and events[-1].steps_done == 0


def test_a_small_face_is_asked_to_come_closer_and_the_box_is_given_as_fractions():
    check = LivenessCheck(Challenge.parse("blink,turn_left"), 0.0)
    small = check.feed(0.0, placed(face(), scale=0.3), lambda: ME)
    assert isinstance(small, FaceProgress) and small.prompt is FacePrompt.COME_CLOSER
    assert small.box is not None and all(0 <= v <= 1 for v in small.box)
    assert small.box[2] == pytest.approx(60 / 640, abs=0.01)
