"""Face analysis of one frame: faces found, the 68 landmarks and the 128-number encoding.

Everything goes through face_recognition's dlib models (HOG detector, the 68-point shape
predictor, the ResNet encoder); their files come from the face-recognition-models package,
never from the network.  Frames are analysed at a working size (``WORK_SIZE`` px on the long
side, smaller frames as they are): a 640x480 camera frame is used as it is, a 1280x720 one is
halved.  At 640 px the detector takes about 30 ms and finds faces from about 80 px wide
(a person within about a metre of the kiosk); a 1280 px frame would cost four times as much
for nothing a face check needs (docs/face.md, docs/benchmarks.md "Face check").

Boxes and landmarks are returned in the coordinates of the frame given, not of the working
copy.  The encoding is face_recognition.face_encodings on the working copy with the known
face location (its default 5-point alignment, one jitter): the same computation as the
central's enrolment from an image file, so that distances mean the same on both sides.
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
from dataclasses import dataclass
from multiprocessing.connection import Connection

import cv2
import numpy as np

log = logging.getLogger(__name__)

WORK_SIZE = 640  # long side, px: see the module docstring
# Below this width (at the working size) landmarks are too noisy for blinks: "come closer".
MIN_FACE_WIDTH = 80
ENCODING_SIZE = 128
MAX_ENCODER_FAILURES = 2
WARM_UP_SIZE = 160
ENCODER_REPLY_S = 30.0  # an encoding takes about 0.1 s; the first one also loads the models

Box = tuple[int, int, int, int]  # x, y, width, height in the frame's pixels


@dataclass(frozen=True)
class FaceAnalysis:
    """What one frame shows."""

    frame_size: tuple[int, int]  # width, height of the frame given
    boxes: tuple[Box, ...]  # every face found
    landmarks: np.ndarray | None  # (68, 2) float, frame pixels: only when exactly one face
    scale: float  # working size / frame size

    @property
    def count(self) -> int:
        return len(self.boxes)

    @property
    def face_width_work(self) -> float:
        """The single face's width at the working size (0 when not exactly one face)."""
        if len(self.boxes) != 1:
            return 0.0
        return self.boxes[0][2] * self.scale


def load_models() -> tuple[object, object, object]:
    # Imported on first use: loading the models takes about a second and 130 MB.
    from face_recognition import api

    return api.face_detector, api.pose_predictor_68_point, api.face_encoder


def to_rgb(frame: np.ndarray, bgr: bool = True) -> np.ndarray:
    """An 8-bit colour frame (BGR from OpenCV unless ``bgr`` is False; grey and BGRA too) as RGB."""
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8:
        raise ValueError("a frame is an 8-bit numpy array")
    if frame.ndim == 2:
        return cv2.cvtColor(frame, cv2.COLOR_GRAY2RGB)
    if frame.ndim != 3 or frame.shape[2] not in (1, 3, 4):
        raise ValueError(f"unsupported frame shape {frame.shape}")
    channels = frame.shape[2]
    if channels == 1:
        return cv2.cvtColor(frame[:, :, 0], cv2.COLOR_GRAY2RGB)
    if channels == 4:
        return cv2.cvtColor(frame, cv2.COLOR_BGRA2RGB if bgr else cv2.COLOR_RGBA2RGB)
    return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB) if bgr else np.ascontiguousarray(frame)


def _encode_here(work: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray | None:
    import face_recognition

    encodings = face_recognition.face_encodings(work, [box], num_jitters=1)
    return np.asarray(encodings[0], dtype=np.float64) if encodings else None


def _encoder_main(conn: Connection) -> None:
    """The encoder process: (working image, box) in, encoding (or None) out, until EOF."""
    while True:
        try:
            work, box = conn.recv()
        except (EOFError, OSError):
            return
        try:
            conn.send(_encode_here(work, box))
        except Exception as error:  # a bad image: the caller gets None and carries on
            conn.send(error.__class__.__name__)


class EncoderProcess:
    """Encodings computed in a child process.

    dlib's encoder holds Python's GIL for its whole call (about 0.1 s per face on this hardware,
    docs/benchmarks.md "Face check"); in the kiosk's process that would stop the UI's frames
    each time. The detector and the shape predictor release the GIL and stay in-process.
    """

    def __init__(self) -> None:
        self._context = multiprocessing.get_context("spawn")
        self._lock = threading.Lock()
        self._conn: Connection | None = None
        self._process: multiprocessing.process.BaseProcess | None = None
        self._warming = False
        self._failures = 0  # in a row; after MAX_ENCODER_FAILURES the analyser encodes in-process

    @property
    def broken(self) -> bool:
        return self._failures >= MAX_ENCODER_FAILURES

    def start(self) -> None:
        with self._lock:
            self._start()

    def _start(self) -> None:
        if self._process is not None and self._process.is_alive():
            return
        parent, child = self._context.Pipe()
        process = self._context.Process(target=_encoder_main, args=(child,), name="face-encoder", daemon=True)
        process.start()
        child.close()
        self._conn, self._process = parent, process
        # A first job loads the models now, while nobody waits; its answer is read before the next.
        parent.send((np.zeros((WARM_UP_SIZE, WARM_UP_SIZE, 3), np.uint8), (0, WARM_UP_SIZE, WARM_UP_SIZE, 0)))
        self._warming = True

    def encode(self, work: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray | None:
        with self._lock:
            self._start()
            conn = self._conn
            assert conn is not None
            try:
                if self._warming:
                    if not conn.poll(ENCODER_REPLY_S):
                        raise OSError("no answer to the warm-up")
                    conn.recv()
                    self._warming = False
                conn.send((work, box))
                if conn.poll(ENCODER_REPLY_S):
                    reply = conn.recv()
                    self._failures = 0
                    if isinstance(reply, np.ndarray):
                        return reply
                    if reply is not None:
                        log.warning("face: the encoder could not encode a face (%s)", reply)
                    return None
                log.warning("face: the encoder did not answer; restarting it")
            except (EOFError, OSError) as error:
                log.warning("face: the encoder process is gone (%s); restarting it", error)
            self._failures += 1
            if self.broken:
                log.error("face: the encoder process fails; encoding in the kiosk's process from now on")
            self._stop()
            return None

    def close(self) -> None:
        with self._lock:
            self._stop()

    def _stop(self) -> None:
        if self._conn is not None:
            self._conn.close()
        if self._process is not None:
            self._process.join(1.0)
            if self._process.is_alive():
                self._process.kill()
        self._conn = self._process = None


class FaceAnalyser:
    """Analyses frames one at a time (dlib's models are not shared between threads: a lock).

    With an ``encoder`` process the encodings are computed there (the kiosk: the UI keeps its
    frames); without, in the calling thread (the bench, enrolment, tests).
    """

    def __init__(self, work_size: int = WORK_SIZE, encoder: EncoderProcess | None = None) -> None:
        if work_size < 160:
            raise ValueError("work_size must be at least 160 px")
        self.work_size = work_size
        self.encoder = encoder
        self._lock = threading.Lock()
        self._work: np.ndarray | None = None  # the last working copy, for encode()
        self._work_boxes: tuple[tuple[int, int, int, int], ...] = ()

    def analyse(self, frame: np.ndarray, bgr: bool = True) -> FaceAnalysis:
        """Faces in ``frame`` (BGR as the camera gives it unless ``bgr`` is False)."""
        detector, predictor, _ = load_models()
        rgb = to_rgb(frame, bgr)
        height, width = rgb.shape[:2]
        scale = min(1.0, self.work_size / max(height, width))
        work = rgb if scale == 1.0 else cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        with self._lock:
            rects = list(detector(work, 0))  # type: ignore[operator]
            landmarks = None
            if len(rects) == 1:
                shape = predictor(work, rects[0])  # type: ignore[operator]
                points = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)
                landmarks = points / scale
            self._work = work
            self._work_boxes = tuple(_css(rect, work.shape) for rect in rects)
        boxes = tuple(_frame_box(rect, scale, width, height) for rect in rects)
        return FaceAnalysis((width, height), boxes, landmarks, scale)

    def encode_last(self) -> np.ndarray | None:
        """The encoding of the single face of the last analysed frame (None: not exactly one face)."""
        with self._lock:
            work, boxes = self._work, self._work_boxes
            if work is None or len(boxes) != 1:
                return None
            if self.encoder is not None and not self.encoder.broken:
                encoding = self.encoder.encode(work, boxes[0])
                if encoding is not None or not self.encoder.broken:
                    return encoding
            # No encoder process (or it cannot run): here, at the cost of the UI's frames meanwhile.
            return _encode_here(work, boxes[0])

    def forget(self) -> None:
        """Drop the last frame (frames are never kept beyond the check that saw them)."""
        with self._lock:
            self._work = None
            self._work_boxes = ()

    def encode(self, frame: np.ndarray, bgr: bool = True) -> tuple[FaceAnalysis, np.ndarray | None]:
        """Analyse and, for exactly one face, encode: what an enrolment or the bench does with a photo."""
        analysis = self.analyse(frame, bgr)
        encoding = self.encode_last() if analysis.count == 1 else None
        self.forget()
        return analysis, encoding


def _css(rect: object, shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """dlib rectangle -> face_recognition's (top, right, bottom, left), clipped to the image."""
    r = rect
    return (
        max(r.top(), 0),  # type: ignore[attr-defined]
        min(r.right(), shape[1]),  # type: ignore[attr-defined]
        min(r.bottom(), shape[0]),  # type: ignore[attr-defined]
        max(r.left(), 0),  # type: ignore[attr-defined]
    )


def _frame_box(rect: object, scale: float, width: int, height: int) -> Box:
    top, right, bottom, left = _css(rect, (round(height * scale), round(width * scale)))
    x0, y0 = round(left / scale), round(top / scale)
    x1, y1 = min(round(right / scale), width), min(round(bottom / scale), height)
    return x0, y0, max(x1 - x0, 0), max(y1 - y0, 0)


def face_distance(a: np.ndarray | tuple[float, ...], b: np.ndarray | tuple[float, ...]) -> float:
    """Euclidean distance of two encodings (face_recognition.face_distance for one pair)."""
    return float(np.linalg.norm(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)))


def read_photo_rgb(path: str) -> np.ndarray | None:
    """A photo file as RGB (alpha dropped); None when it cannot be read."""
    from devices.camera import read_image_file

    image = read_image_file(path)
    return None if image is None else to_rgb(image)
