"""The camera: frame sources and the scanner thread that turns frames into QR codes.

Frame sources sit where the camera is: ``VideoCaptureSource`` (a camera by device index, a
video file or an OpenCV image-sequence pattern, all through cv2.VideoCapture),
``ImageFolderSource`` (the images of a folder in name order) and ``InjectedFrameSource`` (the
simulator: frames pushed from another thread by the demo or a test). ``CameraQrScanner``
reads any of them on a daemon thread, decodes off the UI thread and reports each code once
per dedupe window.
"""

from __future__ import annotations

import collections
import logging
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np
from PIL import Image

from devices.camera_api import CodeListener, DecodedCode
from devices.health import HEALTH_OK, Health, HealthLevel
from devices.qr import decode_frame, frame_stats, to_gray
from devices.settings import SettingError, check_settings, setting

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".webp", ".jpg", ".jpeg", ".bmp")
# A frame this dark on average is a covered lens or a dead sensor, not a scene.
BLACK_FRAME_MEAN = 16.0
# How long a source's read() may block, so that stop() is noticed quickly.
READ_TIMEOUT_SECONDS = 0.2
STOP_JOIN_SECONDS = 2.0

Clock = Callable[[], float]
FrameDecoder = Callable[[np.ndarray], list[DecodedCode]]
# Told of every decoded frame (grey image, codes found) on the scanner's thread: a recorder.
FrameObserver = Callable[[np.ndarray, list[DecodedCode]], None]
# Given every colour frame while a face check runs (devices/face_check.py), on the scanner's thread.
FaceSink = Callable[[np.ndarray], None]


class CameraUnavailable(Exception):
    """The source cannot give frames: missing at open, or lost while reading."""


class EndOfFrames(Exception):
    """A finite source (video file, image folder without loop) has no more frames."""


def _camera_source(value: object) -> str | None:
    if isinstance(value, int) and value < 0:
        return "a camera index is 0 or more"
    if isinstance(value, str) and not value.strip():
        return "must not be empty"
    return None


@dataclass(frozen=True)
class CameraConfig:
    """The camera's settings: one definition, also the kiosk config file's [camera] table (docs/config.md)."""

    source: str | int = setting(0, check=_camera_source)  # device index, video file, image folder, "frames/%04d.png"
    fps: float = setting(15.0, above=0, high=120)  # frames decoded per second (a camera's extra frames are dropped)
    loop: bool = False  # video file / image folder: start again at the end
    dedupe_s: float = setting(3.0, low=0, high=3600)  # the same code is reported at most once per this window
    width: int | None = setting(None, low=1, high=16384)  # capture size asked of a camera (None: its default)
    height: int | None = setting(None, low=1, high=16384)
    stale_s: float = setting(3.0, above=0, high=3600)  # no frame for this long: health WARNING no_frames
    black_frames: int = setting(15, low=1, high=100_000)  # this many dark frames in a row: WARNING black_frames
    retry_initial_s: float = setting(0.5, above=0, high=3600)  # first wait before reopening a missing/lost camera
    retry_max_s: float = setting(10.0, above=0, high=3600)  # the wait doubles up to this

    def __post_init__(self) -> None:
        try:
            check_settings(self)
        except SettingError as exc:
            raise SettingError(f"camera {exc.name}", exc.problem) from None

    @classmethod
    def from_mapping(cls, values: Mapping[str, object]) -> CameraConfig:
        """From a config file's [camera] table; unknown keys and bad values raise ValueError."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown camera setting(s): {', '.join(unknown)}")
        return cls(**values)  # type: ignore[arg-type]  # values are checked in __post_init__


def read_image_file(path: str | Path) -> np.ndarray | None:
    """An image file as an 8-bit BGR frame; None when it cannot be read."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is not None:
        return image
    # OpenCV refuses some degenerate files (1-pixel-wide WebP) that Pillow reads.
    try:
        with Image.open(path) as opened:
            rgb = np.asarray(opened.convert("RGB"))
    except (OSError, ValueError, Image.DecompressionBombError):
        return None
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)


class FrameSource(Protocol):
    # True when frames flow on their own (a camera): a silence then means a fault.
    continuous: bool

    def open(self) -> None:
        """Raises CameraUnavailable when the source is not there."""

    def read(self, timeout: float) -> np.ndarray | None:
        """The next frame, or None when none is due within ``timeout`` seconds.

        Raises CameraUnavailable when the source is lost, EndOfFrames when a finite one ends.
        """

    def close(self) -> None: ...


class _Pacer:
    """Spaces frames 1/fps apart for sources that could deliver them faster."""

    def __init__(self, fps: float) -> None:
        self._interval = 1.0 / fps
        self._next_at = 0.0

    def due(self, timeout: float) -> bool:
        """Waits up to ``timeout`` for the next slot; True when a frame is due now."""
        now = time.monotonic()
        wait = self._next_at - now
        if wait > timeout:
            time.sleep(timeout)
            return False
        if wait > 0:
            time.sleep(wait)
        self._next_at = max(self._next_at + self._interval, time.monotonic())
        return True

    def skip(self) -> bool:
        """For sources that pace themselves (a camera): True when this frame is to be dropped."""
        now = time.monotonic()
        if now < self._next_at:
            return True
        self._next_at = max(self._next_at + self._interval, now)
        return False


class VideoCaptureSource:
    """A camera (device index), a video file or an image-sequence pattern via cv2.VideoCapture."""

    continuous = True

    def __init__(self, config: CameraConfig) -> None:
        self._config = config
        self._target: str | int = _device_index(config.source)
        self._is_device = isinstance(self._target, int)
        self._capture: cv2.VideoCapture | None = None
        self._pacer = _Pacer(config.fps)

    def open(self) -> None:
        target = self._target
        if isinstance(target, int) and sys.platform.startswith("linux") and not Path(f"/dev/video{target}").exists():
            # Checked first so that retries do not make OpenCV log a warning each time.
            raise CameraUnavailable(f"no camera at /dev/video{target}")
        capture = cv2.VideoCapture(target)
        if not capture.isOpened():
            capture.release()
            raise CameraUnavailable(f"cannot open camera source {target!r}")
        if self._is_device:
            if self._config.width:
                capture.set(cv2.CAP_PROP_FRAME_WIDTH, self._config.width)
            if self._config.height:
                capture.set(cv2.CAP_PROP_FRAME_HEIGHT, self._config.height)
            capture.set(cv2.CAP_PROP_FPS, self._config.fps)
        self._capture = capture

    def read(self, timeout: float) -> np.ndarray | None:
        capture = self._capture
        if capture is None:
            raise CameraUnavailable("camera source is not open")
        if self._is_device:
            # A camera paces itself; grab every frame so the decoded one is never stale.
            if not capture.grab():
                raise CameraUnavailable("camera stopped giving frames")
            if self._pacer.skip():
                return None
            ok, frame = capture.retrieve()
            if not ok:
                raise CameraUnavailable("camera stopped giving frames")
            return frame
        if not self._pacer.due(timeout):
            return None
        ok, frame = capture.read()
        if not ok and self._config.loop:
            capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, frame = capture.read()
        if not ok:
            raise EndOfFrames(f"end of {self._target!r}")
        return frame

    def close(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None


def _device_index(source: str | int) -> str | int:
    if isinstance(source, int):
        return source
    return int(source) if source.strip().isdigit() else source


class ImageFolderSource:
    """The images of a folder in name order, at the configured fps, once or looping."""

    continuous = True

    def __init__(self, config: CameraConfig) -> None:
        self._folder = Path(str(config.source))
        self._loop = config.loop
        self._pacer = _Pacer(config.fps)
        self._paths: list[Path] = []
        self._next = 0

    def open(self) -> None:
        if not self._folder.is_dir():
            raise CameraUnavailable(f"image folder {self._folder} does not exist")
        self._paths = sorted(p for p in self._folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not self._paths:
            raise CameraUnavailable(f"image folder {self._folder} holds no images")
        self._next = 0

    def read(self, timeout: float) -> np.ndarray | None:
        if self._next >= len(self._paths):
            if not self._loop or not self._paths:
                raise EndOfFrames(f"end of {self._folder}")
            self._next = 0
        if not self._pacer.due(timeout):
            return None
        path = self._paths[self._next]
        self._next += 1
        frame = read_image_file(path)
        if frame is None:
            log.warning("camera: skipping unreadable image %s", path.name)
        return frame

    def close(self) -> None:
        self._paths = []


class InjectedFrameSource:
    """The camera simulator: frames pushed from another thread, read by the scanner.

    ``unplug()`` / ``plug()`` make the camera disappear and come back, as a USB camera does.
    With ``continuous=False`` (the default) frames come only when someone pushes them, so a
    silence is not reported as a fault.
    """

    def __init__(self, capacity: int = 32, continuous: bool = False) -> None:
        self.continuous = continuous
        # Bounded like a camera's buffer: when nobody reads, the oldest frames are lost.
        self._frames: collections.deque[np.ndarray] = collections.deque(maxlen=capacity)
        self._ready = threading.Condition()
        self._plugged = True

    def push(self, frame: np.ndarray | str | Path) -> None:
        """Queue a frame (any array: the scanner copes with garbage) or an image file."""
        if isinstance(frame, str | Path):
            image = read_image_file(frame)
            if image is None:
                raise ValueError(f"cannot read image {frame}")
            frame = image
        if not isinstance(frame, np.ndarray):
            raise TypeError(f"a frame is a numpy array or an image path, not {type(frame).__name__}")
        with self._ready:
            self._frames.append(frame)
            self._ready.notify_all()

    def unplug(self) -> None:
        with self._ready:
            self._plugged = False
            self._frames.clear()
            self._ready.notify_all()

    def plug(self) -> None:
        with self._ready:
            self._plugged = True
            self._ready.notify_all()

    @property
    def pending(self) -> int:
        with self._ready:
            return len(self._frames)

    def open(self) -> None:
        with self._ready:
            if not self._plugged:
                raise CameraUnavailable("simulated camera is unplugged")

    def read(self, timeout: float) -> np.ndarray | None:
        with self._ready:
            self._ready.wait_for(lambda: self._frames or not self._plugged, timeout)
            if not self._plugged:
                raise CameraUnavailable("simulated camera was unplugged")
            return self._frames.popleft() if self._frames else None

    def close(self) -> None:
        """Nothing to release: pushed frames stay queued for the next open."""


def open_source(config: CameraConfig) -> FrameSource:
    """The source a config names: an existing folder is read image by image, the rest via OpenCV."""
    if isinstance(config.source, str) and Path(config.source).is_dir():
        return ImageFolderSource(config)
    return VideoCaptureSource(config)


class CodeDeduper:
    """Lets a code through at most once per window (counted from when it was last reported)."""

    def __init__(self, window_seconds: float, clock: Clock) -> None:
        self._window = window_seconds
        self._clock = clock
        self._reported_at: dict[bytes, float] = {}

    def admit(self, code: DecodedCode) -> bool:
        now = self._clock()
        # Forget codes whose window is over so the table stays small on a busy kiosk.
        self._reported_at = {k: t for k, t in self._reported_at.items() if now - t < self._window}
        key = code.raw or code.text.encode("utf-8")
        if key in self._reported_at:
            return False
        self._reported_at[key] = now
        return True


class CameraQrScanner:
    """QrScanner over any frame source: a daemon thread reads, decodes and reports codes.

    The listener is called from the scanner's thread (the kiosk moves it onto its main loop).
    """

    def __init__(
        self,
        config: CameraConfig,
        source: FrameSource | None = None,
        clock: Clock = time.monotonic,
        decoder: FrameDecoder = decode_frame,
    ) -> None:
        self._config = config
        self._source = source if source is not None else open_source(config)
        self._clock = clock
        self._decode = decoder
        self._deduper = CodeDeduper(config.dedupe_s, clock)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._listener: CodeListener | None = None
        # Health inputs, written by the scanner thread and read by health().
        self._state = "stopped"  # stopped | starting | open | missing | lost | ended
        self._ever_opened = False
        self._last_frame_at: float | None = None
        self._opened_at = 0.0
        self._dark_run = 0
        self._bad_run = 0
        self._frames_seen = 0
        self.frame_observer: FrameObserver | None = None
        # Set by a running face check: its frames go to it alone, neither decoded nor observed
        # (a recorder never sees a face), so the check also has the core to itself.
        self.face_sink: FaceSink | None = None

    # --- QrScanner --------------------------------------------------------------------------

    def start(self, listener: CodeListener) -> None:
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                raise RuntimeError("camera scanner is already running")
            self._listener = listener
            self._stop.clear()
            self._state = "starting"
            self._thread = threading.Thread(target=self._run, name="camera-qr-scanner", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(STOP_JOIN_SECONDS)
            if thread.is_alive():
                log.warning("camera: scanner thread still blocked in the camera driver after stop")
        with self._lock:
            self._state = "stopped"

    def health(self) -> Health:
        with self._lock:
            state = self._state
            last_frame_at = self._last_frame_at
            opened_at = self._opened_at
            dark_run, bad_run = self._dark_run, self._bad_run
        if state == "stopped":
            return Health(HealthLevel.WARNING, "stopped")
        if state == "starting":
            return Health(HealthLevel.WARNING, "starting")
        if state == "missing":
            return Health(HealthLevel.CRITICAL, "camera_missing")
        if state == "lost":
            return Health(HealthLevel.CRITICAL, "camera_lost")
        if state == "ended":
            return Health(HealthLevel.WARNING, "source_ended")
        since = last_frame_at if last_frame_at is not None else opened_at
        if self._source.continuous and self._clock() - since >= self._config.stale_s:
            return Health(HealthLevel.WARNING, "no_frames")
        if dark_run >= self._config.black_frames:
            return Health(HealthLevel.WARNING, "black_frames")
        if bad_run >= self._config.black_frames:
            return Health(HealthLevel.WARNING, "bad_frames")
        return HEALTH_OK

    # --- extras for the maintenance screen and tests ----------------------------------------

    @property
    def running(self) -> bool:
        thread = self._thread
        return thread is not None and thread.is_alive()

    @property
    def frames_seen(self) -> int:
        """Frames taken from the source since the scanner was made (garbage ones included)."""
        with self._lock:
            return self._frames_seen

    # --- the scanner thread -----------------------------------------------------------------

    def _run(self) -> None:
        retry_wait = self._config.retry_initial_s
        is_open = False
        try:
            while not self._stop.is_set():
                if not is_open:
                    is_open = self._try_open()
                    if not is_open:
                        self._stop.wait(retry_wait)
                        retry_wait = min(retry_wait * 2, self._config.retry_max_s)
                        continue
                    retry_wait = self._config.retry_initial_s
                try:
                    frame = self._source.read(READ_TIMEOUT_SECONDS)
                except EndOfFrames:
                    log.info("camera: source ended")
                    self._set_state("ended")
                    self._stop.wait()
                    break
                except Exception as error:  # CameraUnavailable, or a driver error: reopen
                    log.warning("camera: lost (%s); retrying", error)
                    self._set_state("lost")
                    self._source.close()
                    is_open = False
                    continue
                if frame is not None:
                    self._process(frame)
        except Exception:  # a bug here must be visible, not a silently dead camera
            log.exception("camera: scanner thread failed")
            self._set_state("lost")
        finally:
            self._source.close()

    def _try_open(self) -> bool:
        try:
            self._source.open()
        except Exception as error:  # CameraUnavailable, or a driver error: retry later
            missing_or_lost = "lost" if self._ever_opened else "missing"
            if self._state != missing_or_lost:
                log.warning("camera: %s (%s); retrying with backoff", missing_or_lost, error)
            self._set_state(missing_or_lost)
            return False
        with self._lock:
            self._ever_opened = True
            self._state = "open"
            self._opened_at = self._clock()
            self._last_frame_at = None
        log.info("camera: open")
        return True

    def _set_state(self, state: str) -> None:
        with self._lock:
            self._state = state

    def _process(self, frame: np.ndarray) -> None:
        now = self._clock()
        sink = self.face_sink
        try:
            gray = to_gray(frame)
            if gray.size == 0:
                raise ValueError("empty frame")
            mean, _ = frame_stats(gray)
            codes = self._decode(gray) if sink is None else []
        except Exception as error:  # garbage from a driver or a simulator: count it, go on
            with self._lock:
                self._frames_seen += 1
                self._last_frame_at = now
                self._bad_run += 1
            if isinstance(error, ValueError):
                log.debug("camera: unusable frame (%s)", error)
            else:
                log.exception("camera: frame could not be decoded")
            return
        with self._lock:
            self._frames_seen += 1
            self._last_frame_at = now
            self._bad_run = 0
            self._dark_run = self._dark_run + 1 if mean < BLACK_FRAME_MEAN else 0
        if sink is not None:
            try:
                sink(frame)
            except Exception:  # a face check's fault must not stop the camera
                log.exception("camera: face sink failed")
            return
        observer = self.frame_observer
        if observer is not None:
            try:
                observer(gray, codes)
            except Exception:  # a recorder's fault must not stop the camera
                log.exception("camera: frame observer failed")
        for code in codes:
            if self._deduper.admit(code):
                self._report(code)

    def _report(self, code: DecodedCode) -> None:
        # The payload may be a pickup code: log its size, never its content.
        log.info("camera: QR code read (%d bytes, %s)", len(code.raw), code.decoder)
        listener = self._listener
        if listener is None:
            return
        try:
            listener(code)
        except Exception:  # a listener bug must not stop the camera
            log.exception("camera: code listener failed")
