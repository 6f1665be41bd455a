"""The face frame overlay on its own: the preview pulled on the Clock, mirrored, never kept."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from devices.face_api import Challenge, LivenessStep
from kiosk.i18n import Translator
from kiosk.widgets.face_frame import ChallengeSteps, FaceFrame, as_rgb_rows, mirrored_box
from tests.ui.recovery_screens_support import camera_picture

pytestmark = pytest.mark.ui


def test_a_frame_becomes_texture_rows_bottom_up_and_mirrored() -> None:
    frame = np.zeros((2, 3, 3), dtype=np.uint8)
    frame[0, 0] = (255, 0, 0)  # top left of the camera's picture
    rows = as_rgb_rows(frame)
    assert rows.shape == (2, 3, 3) and rows.flags["C_CONTIGUOUS"]
    assert tuple(rows[1, 2]) == (255, 0, 0)  # last row (the top, for OpenGL), last column (mirrored)
    grey = as_rgb_rows(np.full((4, 4), 7, dtype=np.uint8))
    assert grey.shape == (4, 4, 3) and int(grey.max()) == 7


def test_the_face_box_lands_where_the_mirrored_picture_shows_the_face() -> None:
    # A face in the camera's top left quarter shows in the picture's top right quarter.
    x, y, width, height = mirrored_box((0.0, 0.0, 0.5, 0.5), (100.0, 50.0, 400.0, 300.0))
    assert (x, y, width, height) == (300.0, 200.0, 200.0, 150.0)


def test_the_preview_runs_on_the_clock_and_is_dropped_when_stopped(start_kiosk: Callable[..., Any]) -> None:
    kiosk = start_kiosk()  # an app, so that the Clock and the window run
    from kivy.core.window import Window

    pulls: list[int] = []

    def source() -> np.ndarray:
        pulls.append(1)
        return camera_picture()

    frame = FaceFrame(size=(640, 480), source=source)
    Window.add_widget(frame)
    try:
        ui = kiosk.ui
        frame.start()
        ui.wait_for(lambda: frame.frames_shown >= 3)
        assert frame.texture is not None and tuple(frame.texture.size) == (320, 240)
        _x, _y, width, height = frame.picture  # the 4:3 picture, as large as the widget allows, centred
        assert width / height == pytest.approx(4 / 3) and min(frame.width - width, frame.height - height) < 1
        frame.stop()
        shown = frame.frames_shown
        ui.pump(5)
        assert frame.texture is None and not frame.running and frame.frames_shown == shown
    finally:
        frame.stop()
        Window.remove_widget(frame)


def test_the_challenge_steps_are_ticked_in_order(start_kiosk: Callable[..., Any]) -> None:
    start_kiosk()
    steps = ChallengeSteps()
    tr = Translator("en")
    challenge = Challenge((LivenessStep.TURN_RIGHT, LivenessStep.BLINK))
    steps.show(challenge, 1, tr)
    rows = list(reversed(steps.children))
    assert [row.text for row in rows] == ["Turn to your right", "Blink"]
    assert [row.done for row in rows] == [True, False] and [row.current for row in rows] == [False, True]
    assert steps.ticked == 1
