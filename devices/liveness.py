"""The liveness challenge, checked on the stream of analysed frames (plain Python, no threads).

A person is live when, on one continuous face track, they do the challenge's steps in its order:
- a blink: the eye aspect ratio (EAR, Soukupova & Cech 2016: eye height over eye width from the
  six landmarks of each eye) dips below ``blink_close_ratio`` of the person's own open-eye level
  and comes back above ``blink_open_ratio`` of it;
- a head turn to the side named: the yaw measure (the nose tip's position along the line between
  the two ends of the face outline, landmarks 0 and 16, minus the middle, over that line's length;
  +0.5 is the outline's end) moves by ``turn_yaw`` from the track's own start in that direction.
  The camera image is not mirrored: the person's left is the image's right, so turning to one's
  left moves the nose tip toward the image's right (a positive yaw).

Both measures are ratios of distances between landmarks: moving, scaling or rotating a photo in
the image plane (a similarity transform) leaves them unchanged, so a photo held to the camera and
moved about does not blink or turn.  The track's non-rigid motion (the landmarks' residual after
the best similarity fit to the track's first landmarks, over the distance between the eyes) says
whether the face ever moved like a face: a check that times out without a step done and without
such motion ends STILL_IMAGE rather than TIMED_OUT.

The same face did it: a reference encoding is taken when the track starts (a frame of the
challenge itself), compared with an encoding after each step done (on the next frame facing the
camera with open eyes: a turned face's encoding is further from its frontal one) and with the
final one; a distance
above ``same_face_distance`` ends FACE_CHANGED.  A track breaks (steps start again) when the face
is lost for ``lost_face_s``, jumps by more than ``max_jump`` face widths between frames, or a second
face appears.  The encoding returned is the final one: taken after the last step, on a frame
facing the camera with open eyes.
"""

from __future__ import annotations

import statistics
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from devices.face import MIN_FACE_WIDTH, FaceAnalysis, face_distance
from devices.face_api import (
    Challenge,
    FaceCheckResult,
    FaceOutcome,
    FaceProgress,
    FacePrompt,
    LivenessStep,
)

RIGHT_EYE = slice(36, 42)  # the person's right eye: the image's left
LEFT_EYE = slice(42, 48)
NOSE_TIP = 30
OUTLINE_RIGHT = 0  # outline end on the person's right (image left)
OUTLINE_LEFT = 16

Encoder = Callable[[], "np.ndarray | None"]


@dataclass(frozen=True)
class LivenessConfig:
    timeout_s: float = 20.0  # the whole check
    no_face_s: float = 10.0  # nobody seen at all for this long: NO_FACE
    several_faces_s: float = 3.0  # several faces for this long in a row: SEVERAL_FACES
    lost_face_s: float = 1.0  # the face gone this long: the track (and its steps) start again
    max_jump: float = 0.5  # box centre moved more than this many face widths in one frame: a new track
    baseline_frames: int = 3  # frames that set the track's open-eye level and straight-ahead yaw
    blink_close_ratio: float = 0.75  # EAR below this share of the open-eye level: eyes closed
    blink_open_ratio: float = 0.9  # ... and back above this share: a blink
    turn_yaw: float = 0.12  # yaw change (see the module docstring) that counts as a turn
    frontal_yaw: float = 0.05  # the final encoding's frame is this close to straight ahead
    still_residual: float = 0.04  # non-rigid motion below this (x eye distance) all along: a still image
    same_face_distance: float = 0.45  # encodings of one track further apart than this: FACE_CHANGED
    min_face_width: float = MIN_FACE_WIDTH  # px at the analyser's working size: "come closer" below


def eye_aspect_ratio(points: np.ndarray) -> float:
    """Mean EAR of both eyes from the 68 landmarks."""

    def one(eye: np.ndarray) -> float:
        vertical = np.linalg.norm(eye[1] - eye[5]) + np.linalg.norm(eye[2] - eye[4])
        horizontal = np.linalg.norm(eye[0] - eye[3])
        return float(vertical / (2.0 * horizontal)) if horizontal > 0 else 0.0

    return (one(points[RIGHT_EYE]) + one(points[LEFT_EYE])) / 2.0


def yaw(points: np.ndarray) -> float:
    """Nose tip along the outline's line, -0.5..+0.5 at its ends; positive: toward the person's left."""
    start, end, nose = points[OUTLINE_RIGHT], points[OUTLINE_LEFT], points[NOSE_TIP]
    axis = end - start
    length2 = float(axis @ axis)
    if length2 <= 0:
        return 0.0
    return float((nose - start) @ axis / length2) - 0.5


def eye_distance(points: np.ndarray) -> float:
    return float(np.linalg.norm(points[RIGHT_EYE].mean(axis=0) - points[LEFT_EYE].mean(axis=0)))


def nonrigid_residual(points: np.ndarray, reference: np.ndarray) -> float:
    """RMS of ``points`` after the best similarity transform onto ``reference``, over the eye distance."""
    a = points - points.mean(axis=0)
    b = reference - reference.mean(axis=0)
    norm_a = float(np.sqrt((a * a).sum()))
    if norm_a == 0:
        return 0.0
    # Procrustes with scaling: rotation from the SVD of the cross-covariance.
    u, s, vt = np.linalg.svd(a.T @ b)
    d = np.sign(np.linalg.det(u @ vt)) or 1.0
    s[-1] *= d
    u[:, -1] *= d
    rotation = u @ vt
    scale = float(s.sum()) / (norm_a**2)
    fitted = scale * a @ rotation
    rms = float(np.sqrt(((fitted - b) ** 2).sum(axis=1).mean()))
    distance = eye_distance(reference)
    return rms / distance if distance > 0 else 0.0


@dataclass
class _Track:
    reference: np.ndarray  # landmarks of the track's first frame
    last_box: tuple[int, int, int, int]
    last_seen: float
    ears: list[float]
    yaws: list[float]
    open_ears: deque[float]
    yaw0: float = 0.0
    encoding0: np.ndarray | None = None  # the reference encoding (None until the baseline is set)
    done: int = 0
    eyes_closed: bool = False
    verify: bool = False  # a step was done: compare the face on the next frontal frame


class LivenessCheck:
    """Feed it every analysed frame with its time; it answers with progress or, once, the result."""

    def __init__(self, challenge: Challenge, started_at: float, config: LivenessConfig | None = None) -> None:
        if not challenge.steps:
            raise ValueError("a challenge has at least one step")
        self.challenge = challenge
        self.config = config or LivenessConfig()
        self._t0 = started_at
        self._frames = 0
        self._track: _Track | None = None
        self._ever_seen = False
        self._several_since: float | None = None
        self._max_residual = 0.0
        self.result: FaceCheckResult | None = None

    @property
    def steps_done(self) -> int:
        return self._track.done if self._track is not None else 0

    def feed(self, t: float, analysis: FaceAnalysis, encode: Encoder) -> FaceProgress | FaceCheckResult:
        """One analysed frame at time ``t``; ``encode()`` gives its single face's encoding on demand."""
        if self.result is not None:
            return self.result
        self._frames += 1
        event = self._step(t, analysis, encode)
        if isinstance(event, FaceCheckResult):
            self.result = event
            return event
        if t - self._t0 >= self.config.timeout_s:
            return self.timeout(t)
        return event

    def timeout(self, t: float) -> FaceCheckResult:
        """The check's time is up (also when frames stopped coming): the outcome that explains it."""
        if self.result is not None:
            return self.result
        if not self._ever_seen:
            outcome = FaceOutcome.NO_FACE
        elif self._several_since is not None and self._track is None:
            outcome = FaceOutcome.SEVERAL_FACES
        elif self.steps_done == 0 and self._max_residual < self.config.still_residual:
            outcome = FaceOutcome.STILL_IMAGE
        else:
            outcome = FaceOutcome.TIMED_OUT
        return self.end(outcome, t)

    # --- one frame ------------------------------------------------------------------------

    def _step(self, t: float, analysis: FaceAnalysis, encode: Encoder) -> FaceProgress | FaceCheckResult:
        config = self.config
        if analysis.count == 0:
            if not self._ever_seen and t - self._t0 >= config.no_face_s:
                return self.end(FaceOutcome.NO_FACE, t)
            if self._track is not None and t - self._track.last_seen > config.lost_face_s:
                self._track = None
            self._several_since = None
            return self._progress(FacePrompt.LOOK, analysis, None)
        self._ever_seen = True
        if analysis.count > 1:
            self._several_since = self._several_since if self._several_since is not None else t
            if t - self._several_since >= config.several_faces_s:
                return self.end(FaceOutcome.SEVERAL_FACES, t)
            self._track = None  # who did what is no longer certain: start again with one face
            return self._progress(FacePrompt.ONE_FACE, analysis, None)
        self._several_since = None
        box = analysis.boxes[0]
        points = analysis.landmarks
        if points is None:
            return self._progress(FacePrompt.LOOK, analysis, box)
        if analysis.face_width_work < config.min_face_width:
            return self._progress(FacePrompt.COME_CLOSER, analysis, box)
        track = self._track
        if track is not None and (t - track.last_seen > config.lost_face_s or _jumped(track.last_box, box, config)):
            track = None
        if track is None:
            track = _Track(points, box, t, [], [], deque(maxlen=15))
            self._track = track
        track.last_box, track.last_seen = box, t
        ear, face_yaw = eye_aspect_ratio(points), yaw(points)
        self._max_residual = max(self._max_residual, nonrigid_residual(points, track.reference))
        if track.encoding0 is None:
            track.ears.append(ear)
            track.yaws.append(face_yaw)
            if len(track.ears) >= config.baseline_frames:
                encoding = encode()
                if encoding is not None:
                    track.encoding0 = encoding
                    track.yaw0 = statistics.median(track.yaws)
                    track.open_ears.extend(track.ears)
            return self._progress(self._prompt(track), analysis, box)
        open_level = _open_level(track)
        if track.done < len(self.challenge.steps):
            step = self.challenge.steps[track.done]
            if step is LivenessStep.BLINK:
                if ear < config.blink_close_ratio * open_level:
                    track.eyes_closed = True
                elif track.eyes_closed and ear > config.blink_open_ratio * open_level:
                    track.eyes_closed = False
                    track.done += 1
                    track.verify = True
                elif not track.eyes_closed:
                    track.open_ears.append(ear)
            else:
                turn = face_yaw - track.yaw0
                wanted = turn if step is LivenessStep.TURN_LEFT else -turn
                looking = abs(turn) < config.frontal_yaw
                if not track.eyes_closed and ear >= config.blink_close_ratio * open_level and looking:
                    track.open_ears.append(ear)
                if wanted >= config.turn_yaw:
                    track.done += 1
                    track.verify = True
            if track.verify and track.done < len(self.challenge.steps) and self._frontal(track, face_yaw, ear):
                # Who did the step is compared on the next frame facing the camera with open eyes.
                track.verify = False
                if not self._same_face(track, encode):
                    return self.end(FaceOutcome.FACE_CHANGED, t)
            return self._progress(self._prompt(track), analysis, box)
        # Every step done: the encoding sent is taken now, facing the camera with open eyes.
        if self._frontal(track, face_yaw, ear):
            encoding = encode()
            if encoding is not None:
                if face_distance(encoding, track.encoding0) > config.same_face_distance:
                    return self.end(FaceOutcome.FACE_CHANGED, t)
                return self.end(FaceOutcome.LIVE, t, encoding)
        return self._progress(FacePrompt.HOLD_STILL, analysis, box)

    def _frontal(self, track: _Track, face_yaw: float, ear: float) -> bool:
        config = self.config
        return abs(face_yaw - track.yaw0) <= config.frontal_yaw and ear >= config.blink_open_ratio * _open_level(track)

    def _same_face(self, track: _Track, encode: Encoder) -> bool:
        encoding = encode()
        if encoding is None or track.encoding0 is None:
            return False
        return face_distance(encoding, track.encoding0) <= self.config.same_face_distance

    def _prompt(self, track: _Track) -> FacePrompt:
        if track.done >= len(self.challenge.steps):
            return FacePrompt.HOLD_STILL
        if track.encoding0 is None:
            return FacePrompt.LOOK
        return FacePrompt(self.challenge.steps[track.done].value)

    def _progress(self, prompt: FacePrompt, analysis: FaceAnalysis,
                  box: tuple[int, int, int, int] | None) -> FaceProgress:
        fraction = None
        if box is not None:
            width, height = analysis.frame_size
            fraction = (box[0] / width, box[1] / height, box[2] / width, box[3] / height)
        return FaceProgress(prompt, fraction, self.steps_done, self._frames)

    def end(self, outcome: FaceOutcome, t: float, encoding: np.ndarray | None = None) -> FaceCheckResult:
        vector = tuple(float(v) for v in encoding) if encoding is not None and outcome is FaceOutcome.LIVE else None
        self._track = None  # landmarks and encodings are not kept past the check
        self.result = FaceCheckResult(outcome, self.challenge, vector, self._frames, max(t - self._t0, 0.0))
        return self.result


def _open_level(track: _Track) -> float:
    # The person's own open-eye level: a high quantile of recent open-eye EARs.
    values = sorted(track.open_ears)
    return values[min(len(values) - 1, int(0.75 * len(values)))] if values else 0.0


def _jumped(last: tuple[int, int, int, int], box: tuple[int, int, int, int], config: LivenessConfig) -> bool:
    width = max(last[2], box[2], 1)
    dx = (last[0] + last[2] / 2) - (box[0] + box[2] / 2)
    dy = (last[1] + last[3] / 2) - (box[1] + box[3] / 2)
    return float(np.hypot(dx, dy)) > config.max_jump * width
