"""The face check's interface: what the recovery journey and its screens see of the camera's face work.

A face check runs on its own thread beside the camera: it looks for one face, asks for a
liveness challenge chosen at random (a blink and a head turn to a named side, in random order),
checks that the same face did them, and ends with the encoding of that face (128 numbers) or a
reason why not.  Frames never leave the check; only a passed check yields an encoding.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np


class LivenessStep(str, enum.Enum):
    BLINK = "blink"
    TURN_LEFT = "turn_left"  # the person's own left
    TURN_RIGHT = "turn_right"


@dataclass(frozen=True)
class Challenge:
    steps: tuple[LivenessStep, ...]

    @property
    def text(self) -> str:
        """As the wire's LivenessReport.challenge says it: ``blink,turn_left``."""
        return ",".join(step.value for step in self.steps)

    @classmethod
    def parse(cls, text: str) -> Challenge:
        return cls(tuple(LivenessStep(part) for part in text.split(",") if part))


def random_challenge(rng: random.Random | None = None) -> Challenge:
    """A blink and a turn to a random side, in a random order: a recorded video of another
    attempt answers the wrong challenge most of the time."""
    rng = rng or random.SystemRandom()
    turn = rng.choice((LivenessStep.TURN_LEFT, LivenessStep.TURN_RIGHT))
    steps = [LivenessStep.BLINK, turn]
    rng.shuffle(steps)
    return Challenge(tuple(steps))


class FacePrompt(str, enum.Enum):
    """What the face frame overlay asks the person to do now."""

    LOOK = "look"  # look at the camera, face inside the frame
    COME_CLOSER = "come_closer"  # a face is there but too small
    ONE_FACE = "one_face"  # more than one face: only the person recovering
    BLINK = "blink"
    TURN_LEFT = "turn_left"
    TURN_RIGHT = "turn_right"
    HOLD_STILL = "hold_still"  # the challenge is done: the encoding is being taken


class FaceOutcome(str, enum.Enum):
    LIVE = "live"  # passed: ``encoding`` is set
    STILL_IMAGE = "still_image"  # the face did not move as asked: a photo or a screen held up
    NO_FACE = "no_face"  # nobody in front of the camera for the whole check
    SEVERAL_FACES = "several_faces"
    FACE_CHANGED = "face_changed"  # the face that did the challenge is not the one at its end
    TIMED_OUT = "timed_out"  # a face, but the challenge was not done in time
    CAMERA_UNAVAILABLE = "camera_unavailable"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class FaceProgress:
    """One analysed frame's news for the overlay."""

    prompt: FacePrompt
    # The face's box as fractions of the frame (x, y, width, height; origin top left), None: no face.
    box: tuple[float, float, float, float] | None
    steps_done: int  # of the challenge's steps
    frames: int  # frames analysed so far


@dataclass(frozen=True)
class FaceCheckResult:
    outcome: FaceOutcome
    challenge: Challenge
    encoding: tuple[float, ...] | None  # 128 numbers, only when ``outcome`` is LIVE
    frames: int
    seconds: float


FaceEvent = FaceProgress | FaceCheckResult
# Called on the check's own thread: the kiosk moves it onto its main loop.
FaceListener = Callable[[FaceEvent], None]


class FaceChecker(Protocol):
    def begin(self, challenge: Challenge, listener: FaceListener) -> None:
        """Start a check now (one at a time); ends with exactly one FaceCheckResult."""

    def cancel(self) -> None:
        """Stop the running check (its result, CANCELLED, may still reach the listener)."""

    def preview(self) -> np.ndarray | None:
        """The latest camera frame, small, RGB, for the screen's live preview (never stored)."""
