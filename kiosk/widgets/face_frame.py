"""The face check's overlay: the live camera preview, a guide oval where to put the face, the box
of the face the check sees, the prompt, and the challenge's steps ticked off as they are done.

The preview is the face check's own small RGB frame (``FaceChecker.preview()``), pulled on a Clock
about 10 times a second into one texture that each frame overwrites; it is never saved, and
:meth:`FaceFrame.stop` drops it.  The picture is mirrored, as people expect of a screen that
films them: "turn to your left" then moves the face to the left of the screen too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from kivy.clock import Clock
from kivy.graphics.texture import Texture
from kivy.properties import BooleanProperty, ListProperty, NumericProperty, ObjectProperty, StringProperty
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.floatlayout import FloatLayout

from devices.face_api import Challenge, LivenessStep
from kiosk.i18n import Translator
from kiosk.widgets import common  # noqa: F401  (registers KioskLabel)
from kiosk.widgets.style import load_kv

PREVIEW_FPS = 10.0
DEFAULT_ASPECT = 4 / 3  # before the first frame: the camera's usual shape
OVAL_HEIGHT = 0.78  # of the picture's height: where a face at a comfortable distance fits
OVAL_ASPECT = 0.74  # an oval's width to its height, like a face

STEP_KEYS = {
    LivenessStep.BLINK: "recovery.face.step.blink",
    LivenessStep.TURN_LEFT: "recovery.face.step.turn_left",
    LivenessStep.TURN_RIGHT: "recovery.face.step.turn_right",
}

PreviewSource = Callable[[], np.ndarray | None]


def as_rgb_rows(frame: np.ndarray) -> np.ndarray:
    """A camera frame (RGB or grey, top row first) as contiguous RGB bytes for a texture: bottom row
    first (OpenGL's origin) and mirrored left to right."""
    if frame.ndim == 2:
        frame = np.repeat(frame[:, :, None], 3, axis=2)
    return np.ascontiguousarray(frame[::-1, ::-1, :3], dtype=np.uint8)


def mirrored_box(box: tuple[float, float, float, float], pic: tuple[float, float, float, float]
                 ) -> tuple[float, float, float, float]:
    """A face box (fractions of the frame, origin top left) on the mirrored picture at ``pic``
    (x, y, width, height in window units, origin bottom left)."""
    x, y, width, height = box
    px, py, pw, ph = pic
    return px + (1 - x - width) * pw, py + (1 - y - height) * ph, width * pw, height * ph


class FaceFrame(FloatLayout):
    source: Any = ObjectProperty(None, allownone=True)  # PreviewSource: the face check's preview()
    box: Any = ObjectProperty(None, allownone=True)  # the face's box, fractions of the frame; None: no face
    prompt = StringProperty("")
    ready = BooleanProperty(False)  # the face is where it should be: the oval turns green
    texture: Any = ObjectProperty(None, allownone=True)
    aspect = NumericProperty(DEFAULT_ASPECT)
    picture = ListProperty([0.0, 0.0, 0.0, 0.0])  # x, y, width, height of the preview in the widget
    oval = ListProperty([0.0, 0.0, 0.0, 0.0])
    box_rect = ListProperty([0.0, 0.0, 0.0, 0.0])
    frames_shown = NumericProperty(0)  # previews drawn since start(): the screen is live

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._event: Any = None
        self.bind(pos=self._layout, size=self._layout, aspect=self._layout, box=self._layout)

    # -- the preview ---------------------------------------------------------------------------

    def start(self) -> None:
        self.stop()
        self.frames_shown = 0
        self._event = Clock.schedule_interval(self._pull, 1 / PREVIEW_FPS)
        self._pull(0)

    def stop(self) -> None:
        if self._event is not None:
            self._event.cancel()
            self._event = None
        self.texture = None  # the last picture goes with the screen

    @property
    def running(self) -> bool:
        return self._event is not None

    def _pull(self, _dt: float) -> None:
        source = self.source
        frame = source() if source is not None else None
        if frame is not None:
            self.show_frame(frame)
        elif self.texture is not None:  # no check running: no picture, rather than a frozen one
            self.texture = None

    def show_frame(self, frame: np.ndarray) -> None:
        rows = as_rgb_rows(frame)
        height, width = rows.shape[:2]
        if self.texture is None or tuple(self.texture.size) != (width, height):
            self.texture = Texture.create(size=(width, height), colorfmt="rgb")
            self.aspect = width / height
        self.texture.blit_buffer(rows.tobytes(), colorfmt="rgb", bufferfmt="ubyte")
        self.frames_shown += 1
        self.canvas.ask_update()

    # -- geometry ------------------------------------------------------------------------------

    def _layout(self, *_args: Any) -> None:
        width, height = self.width, self.height
        if width / max(height, 1) > self.aspect:
            pw, ph = height * self.aspect, height
        else:
            pw, ph = width, width / self.aspect
        px, py = self.x + (width - pw) / 2, self.y + (height - ph) / 2
        self.picture = [px, py, pw, ph]
        oh = ph * OVAL_HEIGHT
        ow = oh * OVAL_ASPECT
        self.oval = [px + (pw - ow) / 2, py + (ph - oh) / 2, ow, oh]
        self.box_rect = list(mirrored_box(self.box, (px, py, pw, ph))) if self.box is not None else [0.0] * 4


class StepRow(BoxLayout):
    """One step of the challenge: a circle, ticked once done."""

    text = StringProperty("")
    done = BooleanProperty(False)
    current = BooleanProperty(False)  # the step asked now


class ChallengeSteps(BoxLayout):
    """The challenge's steps in order; those done are ticked, the next one is highlighted."""

    def show(self, challenge: Challenge | None, steps_done: int, tr: Translator) -> None:
        steps = challenge.steps if challenge is not None else ()
        if len(self.children) != len(steps):
            self.clear_widgets()
            for _ in steps:
                self.add_widget(StepRow())
        for index, (row, step) in enumerate(zip(reversed(self.children), steps, strict=True)):
            row.text = tr.text(STEP_KEYS[step])
            row.done = index < steps_done
            row.current = index == steps_done

    @property
    def ticked(self) -> int:
        return sum(1 for row in self.children if row.done)


load_kv(__file__)
