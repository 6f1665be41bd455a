"""Camera frames of a live person doing a liveness challenge, made from ONE real photo.

For the tests and the kiosk demo only: this simulates a live person, it is not one.  From the
photo's 68 landmarks the frames show
- a blink: each upper eyelid slides down over the eye (the skin above it is stretched down to the
  lower lid, cv2.remap), in a few frames closing and opening as a real blink does;
- a head turn: a smooth non-rigid warp moves the inner face (nose most, eyes and mouth less)
  sideways while the face outline stays, as the nose tip does when a head turns;
- small sensor noise on every frame.
The same module makes the attacks a live check must refuse: the photo held still (the same frame
repeated), or moved, scaled or rotated in the image plane.

Frames are BGR, ``size`` (default 640x480, the kiosk camera's), with the face about a third of the
frame wide, as a person at arm's length from the kiosk.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from devices.face import FaceAnalyser, to_rgb
from devices.face_api import Challenge, FaceCheckResult, LivenessStep
from devices.liveness import LivenessCheck, LivenessConfig

FRAME_SIZE = (640, 480)
FACE_SHARE = 0.34  # the face box's width over the frame's
TURN_SHIFT = 0.22  # the nose tip's sideways move at a full turn, over the face width
NOISE_SIGMA = 2.0  # sensor noise, grey levels


class Attack(str, enum.Enum):
    REPEATED = "repeated"  # the very same frame again and again
    MOVED = "moved"  # the photo moved about in front of the camera
    SCALED = "scaled"  # brought closer and further
    ROTATED = "rotated"  # tilted in the image plane


@dataclass(frozen=True)
class FacePose:
    """One frame's expression: ``closed`` 0 (open eyes) .. 1 (shut); ``turn`` -1 (full right) .. +1 (full left)."""

    closed: float = 0.0
    turn: float = 0.0


class LiveFace:
    """A photo placed as a camera frame, with its landmarks: frames of poses and attacks."""

    def __init__(self, photo_bgr: np.ndarray, size: tuple[int, int] = FRAME_SIZE, seed: int = 0,
                 analyser: FaceAnalyser | None = None) -> None:
        analyser = analyser or FaceAnalyser()
        self.size = size
        self._seed = seed
        self._rng = np.random.default_rng(seed)
        colour = photo_bgr.ndim == 3 and photo_bgr.shape[2] == 3
        photo = photo_bgr if colour else cv2.cvtColor(to_rgb(photo_bgr), cv2.COLOR_RGB2BGR)
        found = analyser.analyse(photo)
        analyser.forget()
        if found.count != 1 or found.landmarks is None:
            raise ValueError(f"the photo must show exactly one face (found {found.count})")
        self.base = _place(photo, found.boxes[0], size)
        placed = analyser.analyse(self.base)
        analyser.forget()
        if placed.count != 1 or placed.landmarks is None:
            raise ValueError("the face is not found once placed in a camera frame")
        self.landmarks = placed.landmarks
        self.box = placed.boxes[0]

    @classmethod
    def from_file(cls, path: str, **kwargs: object) -> LiveFace:
        from devices.camera import read_image_file

        image = read_image_file(path)
        if image is None:
            raise ValueError(f"cannot read image {path}")
        return cls(image, **kwargs)  # type: ignore[arg-type]

    # --- frames -------------------------------------------------------------------------

    def frame(self, pose: FacePose = FacePose(), noise: bool = True) -> np.ndarray:
        image = self.base
        if pose.closed > 0:
            image = self._close_eyes(image, min(pose.closed, 1.0))
        if pose.turn != 0:
            image = self._turn(image, max(-1.0, min(pose.turn, 1.0)))
        return self._noisy(image) if noise else image.copy()

    def poses(self, challenge: Challenge, neutral: int = 4) -> list[FacePose]:
        """The poses of a person doing ``challenge`` at about 10 frames a second."""
        poses = [FacePose()] * neutral
        for step in challenge.steps:
            if step is LivenessStep.BLINK:
                poses += [FacePose(c) for c in (0.6, 0.85, 1.0, 1.0, 0.85, 0.6, 0.0)] + [FacePose()] * 3
            else:
                side = 1.0 if step is LivenessStep.TURN_LEFT else -1.0
                poses += [FacePose(0, side * a) for a in (0.35, 0.7, 1.0, 1.0, 0.7, 0.35, 0.0)] + [FacePose()] * 2
        return poses + [FacePose()] * neutral

    def live(self, challenge: Challenge, neutral: int = 4) -> Iterator[np.ndarray]:
        """The frames of a live person doing ``challenge`` once (made one at a time; the same each time)."""
        self._rng = np.random.default_rng(self._seed)
        for pose in self.poses(challenge, neutral):
            yield self.frame(pose)

    def performing(self, challenge: Challenge) -> Iterator[np.ndarray]:
        """Endless frames of a person doing ``challenge`` again and again, as one does until the
        screen says it worked (the demo: push them into the camera until the check ends)."""
        rounds = 0
        while True:
            self._seed, previous = self._seed + rounds, self._seed
            yield from self.live(challenge)
            self._seed = previous
            rounds += 1

    def attack(self, kind: Attack, frames: int = 30) -> Iterator[np.ndarray]:
        """The photo held to the camera: no blink, no turn; the whole picture moves rigidly."""
        self._rng = np.random.default_rng(self._seed)
        still = self._noisy(self.base)
        width, height = self.size
        cx, cy = self.box[0] + self.box[2] / 2, self.box[1] + self.box[3] / 2
        for i in range(frames):
            phase = 2 * math.pi * i / max(frames, 1)
            if kind is Attack.REPEATED:
                yield still.copy()
                continue
            angle, scale, dx, dy = 0.0, 1.0, 0.0, 0.0
            if kind is Attack.MOVED:
                dx, dy = 0.08 * width * math.sin(phase), 0.05 * height * math.sin(2 * phase)
            elif kind is Attack.SCALED:
                scale = 1.0 + 0.15 * math.sin(phase)
            elif kind is Attack.ROTATED:
                angle = 12.0 * math.sin(phase)
            matrix = np.asarray(cv2.getRotationMatrix2D((cx, cy), angle, scale), dtype=np.float64)
            matrix[:, 2] += (dx, dy)
            moved = cv2.warpAffine(self.base, matrix, self.size, flags=cv2.INTER_LINEAR,
                                   borderMode=cv2.BORDER_REPLICATE)
            yield self._noisy(moved)

    # --- image work ---------------------------------------------------------------------

    def _noisy(self, image: np.ndarray) -> np.ndarray:
        noise = self._rng.normal(0.0, NOISE_SIGMA, image.shape)
        return np.clip(image.astype(np.float32) + noise, 0, 255).astype(np.uint8)

    def _close_eyes(self, image: np.ndarray, closed: float) -> np.ndarray:
        height, width = image.shape[:2]
        map_x, map_y = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
        lid_lines = []
        for eye in (self.landmarks[36:42], self.landmarks[42:48]):
            left, right = float(eye[:, 0].min()), float(eye[:, 0].max())
            top = float(eye[[1, 2], 1].mean())  # upper lid
            span = max(float(eye[[4, 5], 1].mean()) - top, 1.0)  # down to the lower lid
            above = (right - left) * 0.55  # the skin above the lid that slides down
            pad = (right - left) * 0.15
            x0, x1 = max(int(left - pad), 0), min(math.ceil(right + pad), width)
            y0, y1 = max(int(top - above), 0), min(math.ceil(top + span + 2), height)
            ys = np.arange(y0, y1, dtype=np.float32)
            line = []
            for x in range(x0, x1):
                # Strongest over the eye's middle, nothing past its corners: a lid's curve.
                across = (x - (left + right) / 2) / ((right - left) / 2 + pad)
                drop = closed * span * max(0.0, math.cos(across * math.pi / 2)) ** 0.6
                line.append((x, top + drop))
                # Rows down to the lid's new place show the skin above it, stretched.
                stretched = (top - above) + (ys - (top - above)) * above / (above + drop)
                map_y[y0:y1, x] = np.where(ys <= top + drop, stretched, ys)
            lid_lines.append(np.array(line, dtype=np.int32))
        closed_image = cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        if closed > 0.6:  # the lashes where the lids meet
            thickness = max(1, round(self.box[2] / 100))
            cv2.polylines(closed_image, lid_lines, False, (30, 25, 25), thickness, cv2.LINE_AA)
        return closed_image

    def _turn(self, image: np.ndarray, turn: float) -> np.ndarray:
        height, width = image.shape[:2]
        points = self.landmarks
        outline_left, outline_right = float(points[0, 0]), float(points[16, 0])  # image left, image right
        nose = points[30]
        face_width = outline_right - outline_left
        chin_to_brow = float(points[8, 1] - points[17:27, 1].min())
        shift = turn * TURN_SHIFT * face_width
        xs, ys = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
        # Sideways: most at the nose, nothing at the face outline's ends (they stay where they are).
        left_part = np.clip((xs - outline_left) / max(nose[0] - outline_left, 1.0), 0, 1)
        right_part = np.clip((outline_right - xs) / max(outline_right - nose[0], 1.0), 0, 1)
        across = np.sin(np.minimum(left_part, right_part) * np.pi / 2)
        down = np.exp(-((ys - nose[1]) ** 2) / (2 * (0.5 * chin_to_brow) ** 2))
        # A backward map: the pixel now at x came from x - shift*weight (close enough for small shifts).
        map_x = (xs - shift * across * down).astype(np.float32)
        return cv2.remap(image, map_x, ys, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)

def _place(photo: np.ndarray, box: tuple[int, int, int, int], size: tuple[int, int]) -> np.ndarray:
    """The photo cropped and scaled so that the face is FACE_SHARE of the frame's width, centred."""
    width, height = size
    x, y, w, h = box
    scale = FACE_SHARE * width / max(w, 1)
    cx, cy = (x + w / 2) * scale, (y + h / 2) * scale
    matrix = np.array([[scale, 0, width / 2 - cx], [0, scale, height * 0.45 - cy]], dtype=np.float64)
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    return cv2.warpAffine(photo, matrix, size, flags=interpolation, borderMode=cv2.BORDER_REPLICATE)


def check_frames(frames: Iterable[np.ndarray], challenge: Challenge, analyser: FaceAnalyser | None = None,
                 fps: float = 10.0, config: LivenessConfig | None = None) -> FaceCheckResult:
    """Run the liveness check over ``frames`` as if they came at ``fps`` (no waiting, no thread).

    When the frames end before the check does, the check's time runs out (its timeout's outcome).
    """
    analyser = analyser or FaceAnalyser()
    check = LivenessCheck(challenge, 0.0, config)
    t = 0.0
    try:
        for index, frame in enumerate(frames):
            t = index / fps
            event = check.feed(t, analyser.analyse(frame), analyser.encode_last)
            if isinstance(event, FaceCheckResult):
                return event
        return check.timeout(max(t, check.config.timeout_s))
    finally:
        analyser.forget()
