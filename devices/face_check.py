"""The kiosk's face check: a FaceChecker (devices/face_api.py) fed with the camera's colour frames.

    checker = CameraFaceChecker(scanner)          # scanner: the devices.camera.CameraQrScanner
    checker.prepare()                             # at the kiosk's start: loads the models (about 1 s)
    checker.begin(random_challenge(), listener)  # listener gets FaceProgress events, then one FaceCheckResult
    checker.preview()                             # the latest frame, small and RGB, for the screen
    checker.cancel()
    checker.close()                               # at the kiosk's end: stops the encoder process

While a check runs, the scanner hands it every frame through ``scanner.face_sink`` (and neither
decodes QR codes in them nor shows them to its frame observers: a recorder never sees a face).
The check analyses frames on its own thread, latest frame wins: a frame that arrives while the
previous one is still being analysed replaces the one waiting, so neither the camera's thread nor
the UI ever waits for the analysis.  Events are sent from the check's thread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol

import cv2
import numpy as np

from devices.face import EncoderProcess, FaceAnalyser, load_models, to_rgb
from devices.face_api import Challenge, FaceCheckResult, FaceListener, FaceOutcome
from devices.health import Health
from devices.liveness import LivenessCheck, LivenessConfig

log = logging.getLogger(__name__)

PREVIEW_WIDTH = 320
WAIT_SLICE_S = 0.2  # how often the worker looks at the clock and for a cancel while no frame comes
# Health reasons of a camera that gives no frames at all (devices/camera.py CameraQrScanner.health).
UNAVAILABLE_REASONS = ("stopped", "source_ended", "camera_missing", "camera_lost")


class FrameTap(Protocol):
    """What the checker needs of the camera: a place to plug in, and whether it works."""

    face_sink: Callable[[np.ndarray], None] | None

    def health(self) -> Health: ...


class CameraFaceChecker:
    """FaceChecker over a camera scanner (or any FrameTap); one check at a time."""

    def __init__(
        self,
        camera: FrameTap,
        analyser: FaceAnalyser | None = None,
        config: LivenessConfig | None = None,
        clock: Callable[[], float] = time.monotonic,
        frame_wait_s: float = 3.0,
        encode_in_process: bool = True,
    ) -> None:
        self._camera = camera
        if analyser is None:
            # The kiosk's: encodings in a child process (started by prepare() or the first check).
            analyser = FaceAnalyser(encoder=EncoderProcess() if encode_in_process else None)
        self._analyser = analyser
        self._config = config or LivenessConfig()
        self._clock = clock
        self._frame_wait_s = frame_wait_s  # no frame for this long from an unhealthy camera: unavailable
        self._cond = threading.Condition()
        self._latest: np.ndarray | None = None  # waiting for the worker
        self._shown: np.ndarray | None = None  # the latest frame, for preview()
        self._cancelled = False
        self._thread: threading.Thread | None = None
        self.analysed = 0  # frames analysed by the last check
        self.dropped = 0  # frames replaced by a newer one before they were analysed

    def prepare(self) -> None:
        """Load the models now: about 1 s of CPU in this process (it stalls a UI meanwhile) and the
        encoder process's start. Call it once at the kiosk's start; otherwise the first check does it."""
        load_models()
        encoder = getattr(self._analyser, "encoder", None)
        if encoder is not None:
            encoder.start()

    def close(self) -> None:
        """Cancel a running check and stop the encoder process (the kiosk's shutdown)."""
        self.cancel()
        thread = self._thread
        if thread is not None:
            thread.join(5.0)
        encoder = getattr(self._analyser, "encoder", None)
        if encoder is not None:
            encoder.close()

    @property
    def running(self) -> bool:
        thread = self._thread
        return thread is not None and thread.is_alive()

    # --- FaceChecker ----------------------------------------------------------------------

    def begin(self, challenge: Challenge, listener: FaceListener) -> None:
        with self._cond:
            if self.running:
                raise RuntimeError("a face check is already running")
            self._latest = self._shown = None
            self._cancelled = False
            self.analysed = self.dropped = 0
            self._camera.face_sink = self.feed
            self._thread = threading.Thread(target=self._run, args=(challenge, listener),
                                            name="face-check", daemon=True)
            self._thread.start()

    def cancel(self) -> None:
        with self._cond:
            self._cancelled = True
            self._cond.notify_all()

    def preview(self) -> np.ndarray | None:
        with self._cond:
            frame = self._shown
        if frame is None:
            return None
        try:
            rgb = to_rgb(frame)
        except ValueError:
            return None
        height, width = rgb.shape[:2]
        if width > PREVIEW_WIDTH:
            rgb = cv2.resize(rgb, (PREVIEW_WIDTH, max(1, round(height * PREVIEW_WIDTH / width))),
                             interpolation=cv2.INTER_AREA)
        return rgb

    # --- frames in (the camera's thread) --------------------------------------------------

    def feed(self, frame: np.ndarray) -> None:
        """A camera frame (BGR): replaces the one waiting, never blocks on the analysis."""
        with self._cond:
            if self._latest is not None:
                self.dropped += 1
            self._latest = self._shown = frame
            self._cond.notify_all()

    # --- the check's thread ---------------------------------------------------------------

    def _run(self, challenge: Challenge, listener: FaceListener) -> None:
        started = self._clock()
        check = LivenessCheck(challenge, started, self._config)
        result: FaceCheckResult | None = None
        try:
            result = self._loop(check, started, listener)
        except Exception:  # a bug must end the check with a result, not leave the screen waiting
            log.exception("face check: failed")
            result = check.end(FaceOutcome.CAMERA_UNAVAILABLE, self._clock())
        finally:
            with self._cond:
                if self._camera.face_sink == self.feed:
                    self._camera.face_sink = None
                self._latest = self._shown = None  # frames are not kept past the check
            self._analyser.forget()
            if result is None:
                result = check.end(FaceOutcome.CANCELLED, self._clock())
            log.info("face check: %s (%s) after %d frames, %.1f s", result.outcome.value,
                     challenge.text, result.frames, result.seconds)
            _tell(listener, result)

    def _loop(self, check: LivenessCheck, started: float, listener: FaceListener) -> FaceCheckResult:
        if _unavailable(self._camera.health()):
            return check.end(FaceOutcome.CAMERA_UNAVAILABLE, started)
        encoder = getattr(self._analyser, "encoder", None)
        if encoder is not None:
            encoder.start()  # no-op when running; its models load while the first frames are looked at
        last_frame_at = started
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._latest is not None or self._cancelled, WAIT_SLICE_S)
                frame, self._latest = self._latest, None
                cancelled = self._cancelled
            now = self._clock()
            if cancelled:
                return check.end(FaceOutcome.CANCELLED, now)
            if frame is None:
                if now - last_frame_at >= self._frame_wait_s and _unavailable(self._camera.health()):
                    return check.end(FaceOutcome.CAMERA_UNAVAILABLE, now)
                if now - started >= check.config.timeout_s:
                    return check.timeout(now)
                continue
            last_frame_at = now
            try:
                analysis = self._analyser.analyse(frame)
            except ValueError as error:  # garbage from a driver or a simulator: skip it
                log.debug("face check: unusable frame (%s)", error)
                continue
            self.analysed += 1
            event = check.feed(now, analysis, self._analyser.encode_last)
            if isinstance(event, FaceCheckResult):
                return event
            _tell(listener, event)


def _unavailable(health: Health) -> bool:
    return health.critical or health.reason in UNAVAILABLE_REASONS


def _tell(listener: FaceListener, event: object) -> None:
    try:
        listener(event)  # type: ignore[arg-type]
    except Exception:  # a listener's bug must not stop the check
        log.exception("face check: listener failed")
