"""The camera scanner thread over real frame sources (cv2, image folders, the simulator)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from devices.camera import (
    CameraConfig,
    CameraQrScanner,
    CodeDeduper,
    ImageFolderSource,
    InjectedFrameSource,
    VideoCaptureSource,
    open_source,
)
from devices.camera_api import DecodedCode, QrScanner
from devices.health import HealthLevel
from tests.camera.qr_images import frame_with_codes
from tests.support.clocks import ManualClock

WAIT_SECONDS = 10.0  # generous: only reached when something is broken


class Collector:
    """A listener that records what the scanner reports, from the scanner's thread."""

    def __init__(self) -> None:
        self.codes: list[DecodedCode] = []
        self.threads: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, code: DecodedCode) -> None:
        with self._lock:
            self.codes.append(code)
            self.threads.add(threading.current_thread().name)

    @property
    def texts(self) -> list[str]:
        with self._lock:
            return [code.text for code in self.codes]


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


@pytest.fixture
def running() -> Iterator[list[CameraQrScanner]]:
    """Scanners a test starts; all stopped at the end even when the test fails."""
    scanners: list[CameraQrScanner] = []
    yield scanners
    for scanner in scanners:
        scanner.stop()


def start(
    running: list[CameraQrScanner],
    config: CameraConfig,
    source: InjectedFrameSource | None = None,
    clock: ManualClock | None = None,
) -> tuple[CameraQrScanner, Collector]:
    scanner = CameraQrScanner(config, source=source, clock=clock or time.monotonic)
    collector = Collector()
    running.append(scanner)
    scanner.start(collector)
    return scanner, collector


def push_and_wait(scanner: CameraQrScanner, source: InjectedFrameSource, frame: np.ndarray) -> None:
    seen = scanner.frames_seen
    source.push(frame)
    wait_for(lambda: scanner.frames_seen > seen, "the frame to be processed")


# --- dedupe --------------------------------------------------------------------------------


def test_deduper_lets_a_code_through_once_per_window() -> None:
    clock = ManualClock()
    deduper = CodeDeduper(3.0, clock)
    order = DecodedCode("TK1.a", b"TK1.a", "zxing")
    other = DecodedCode("TK1.b", b"TK1.b", "zxing")
    assert deduper.admit(order)
    clock.now += 2.9
    assert not deduper.admit(order)
    assert deduper.admit(other)
    clock.now += 0.1  # 3 s after the first report
    assert deduper.admit(order)
    assert not deduper.admit(order)


def test_the_same_code_is_reported_again_only_after_the_window(running: list[CameraQrScanner]) -> None:
    clock = ManualClock()
    source = InjectedFrameSource()
    scanner, collector = start(running, CameraConfig(source="inject", dedupe_s=3), source, clock)
    frame = frame_with_codes("TK1.order-1")
    push_and_wait(scanner, source, frame)
    clock.now += 1
    push_and_wait(scanner, source, frame)
    assert collector.texts == ["TK1.order-1"]
    clock.now += 2.5
    push_and_wait(scanner, source, frame)
    assert collector.texts == ["TK1.order-1", "TK1.order-1"]
    assert collector.threads == {"camera-qr-scanner"}  # never the caller's thread


def test_several_codes_in_one_frame_are_each_reported_once(running: list[CameraQrScanner]) -> None:
    clock = ManualClock()
    source = InjectedFrameSource()
    scanner, collector = start(running, CameraConfig(source="inject"), source, clock)
    frame = frame_with_codes("TK1.first", "TK1.second")
    for _ in range(3):
        push_and_wait(scanner, source, frame)
    assert sorted(collector.texts) == ["TK1.first", "TK1.second"]


# --- real sources through OpenCV -----------------------------------------------------------


def write_frames(folder: Path, frames: list[np.ndarray]) -> None:
    for index, frame in enumerate(frames):
        assert cv2.imwrite(str(folder / f"{index:03d}.png"), frame)


def test_image_folder_is_read_in_name_order_then_ends(tmp_path: Path, running: list[CameraQrScanner]) -> None:
    blank = np.full((240, 320, 3), 180, dtype=np.uint8)
    write_frames(tmp_path, [blank, frame_with_codes("TK1.one"), blank, frame_with_codes("TK1.two")])
    (tmp_path / "notes.txt").write_text("not a frame")
    config = CameraConfig(source=str(tmp_path), fps=100, loop=False)
    assert isinstance(open_source(config), ImageFolderSource)
    scanner, collector = start(running, config)
    wait_for(lambda: scanner.health().reason == "source_ended", "the folder to end")
    assert collector.texts == ["TK1.one", "TK1.two"]


def test_looping_image_folder_reports_again_after_the_window(tmp_path: Path, running: list[CameraQrScanner]) -> None:
    write_frames(tmp_path, [frame_with_codes("TK1.loop")])
    config = CameraConfig(source=str(tmp_path), fps=50, loop=True, dedupe_s=0.05)
    scanner, collector = start(running, config)
    wait_for(lambda: len(collector.texts) >= 3, "the looped code to be reported three times")
    assert scanner.health().ok


def test_video_file_is_read_through_videocapture(tmp_path: Path, running: list[CameraQrScanner]) -> None:
    video = tmp_path / "lobby.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter.fourcc(*"MJPG"), 10, (640, 480))
    assert writer.isOpened()
    for frame in [np.full((480, 640, 3), 90, np.uint8)] * 3 + [frame_with_codes("TK1.video")] * 3:
        writer.write(frame)
    writer.release()
    config = CameraConfig(source=str(video), fps=100)
    assert isinstance(open_source(config), VideoCaptureSource)
    scanner, collector = start(running, config)
    wait_for(lambda: scanner.health().reason == "source_ended", "the video to end")
    assert collector.texts == ["TK1.video"]


def test_image_sequence_pattern_is_read_through_videocapture(tmp_path: Path, running: list[CameraQrScanner]) -> None:
    write_frames(tmp_path, [frame_with_codes("TK1.sequence"), np.full((480, 640, 3), 90, np.uint8)])
    scanner, collector = start(running, CameraConfig(source=str(tmp_path / "%03d.png"), fps=100))
    wait_for(lambda: scanner.health().reason == "source_ended", "the sequence to end")
    assert collector.texts == ["TK1.sequence"]


# --- health ---------------------------------------------------------------------------------


@pytest.mark.parametrize("source", [99, "99", "/nonexistent/camera.avi", "/nonexistent/folder/%03d.png"])
def test_a_missing_camera_is_critical_and_stop_still_returns(source: str | int, running: list[CameraQrScanner]) -> None:
    scanner, _ = start(running, CameraConfig(source=source, retry_initial_s=0.05))
    wait_for(lambda: scanner.health().critical, "critical health")
    assert scanner.health().reason == "camera_missing"
    scanner.stop()
    assert not scanner.running
    assert scanner.health().reason == "stopped"


def test_a_lost_camera_is_critical_then_recovers_when_back(running: list[CameraQrScanner]) -> None:
    source = InjectedFrameSource(continuous=True)
    config = CameraConfig(source="inject", retry_initial_s=0.02, retry_max_s=0.05)
    scanner, collector = start(running, config, source)
    push_and_wait(scanner, source, frame_with_codes("TK1.before"))
    assert scanner.health().ok
    source.unplug()
    wait_for(lambda: scanner.health().reason == "camera_lost", "camera_lost")
    assert scanner.health().critical
    source.plug()
    wait_for(lambda: scanner.health().ok, "the camera to come back")
    push_and_wait(scanner, source, frame_with_codes("TK1.after"))
    assert collector.texts == ["TK1.before", "TK1.after"]


def test_a_silent_camera_is_a_warning_but_an_idle_simulator_is_not(running: list[CameraQrScanner]) -> None:
    clock = ManualClock()
    config = CameraConfig(source="inject", stale_s=2)
    camera_like, idle_sim = InjectedFrameSource(continuous=True), InjectedFrameSource()
    camera_scanner, _ = start(running, config, camera_like, clock)
    sim_scanner, _ = start(running, config, idle_sim, clock)
    push_and_wait(camera_scanner, camera_like, frame_with_codes("TK1.x"))
    wait_for(lambda: sim_scanner.health().ok, "the simulator to open")
    clock.now += 5
    assert camera_scanner.health().level is HealthLevel.WARNING
    assert camera_scanner.health().reason == "no_frames"
    assert sim_scanner.health().ok
    push_and_wait(camera_scanner, camera_like, frame_with_codes("TK1.y"))
    assert camera_scanner.health().ok


def test_black_frames_are_a_warning_until_the_picture_returns(running: list[CameraQrScanner]) -> None:
    source = InjectedFrameSource()
    scanner, _ = start(running, CameraConfig(source="inject", black_frames=3), source)
    black = np.zeros((480, 640, 3), dtype=np.uint8)
    for _ in range(3):
        push_and_wait(scanner, source, black)
    assert scanner.health().level is HealthLevel.WARNING
    assert scanner.health().reason == "black_frames"
    push_and_wait(scanner, source, frame_with_codes("TK1.light"))
    assert scanner.health().ok


# --- robustness -----------------------------------------------------------------------------

GARBAGE: list[np.ndarray] = [
    np.random.default_rng(3).integers(0, 256, (480, 640, 4), dtype=np.uint8),  # noise: a frame, no code
    np.zeros((0, 0), dtype=np.uint8),
    np.zeros((1, 1, 3), dtype=np.uint8),
    np.zeros((480, 640), dtype=np.float64),
    np.zeros((480, 640, 2), dtype=np.uint8),
    np.zeros((2, 2, 2, 2), dtype=np.uint8),
    np.array(["not", "pixels"]),
]


def test_garbage_frames_never_stop_the_scanner(running: list[CameraQrScanner]) -> None:
    source = InjectedFrameSource()
    scanner, collector = start(running, CameraConfig(source="inject", black_frames=3), source)
    for frame in GARBAGE:
        push_and_wait(scanner, source, frame)
    assert scanner.running
    assert scanner.health().reason == "bad_frames"
    push_and_wait(scanner, source, frame_with_codes("TK1.after-garbage"))
    assert collector.texts == ["TK1.after-garbage"]
    assert scanner.health().ok


def test_a_failing_listener_does_not_stop_the_scanner(running: list[CameraQrScanner]) -> None:
    source = InjectedFrameSource()
    scanner = CameraQrScanner(CameraConfig(source="inject"), source=source)
    running.append(scanner)
    received: list[str] = []

    def fragile(code: DecodedCode) -> None:
        received.append(code.text)
        if len(received) == 1:
            raise RuntimeError("listener bug")

    scanner.start(fragile)
    push_and_wait(scanner, source, frame_with_codes("TK1.first"))
    push_and_wait(scanner, source, frame_with_codes("TK1.second"))
    assert received == ["TK1.first", "TK1.second"]


def test_start_stop_lifecycle(running: list[CameraQrScanner]) -> None:
    source = InjectedFrameSource()
    scanner: QrScanner = CameraQrScanner(CameraConfig(source="inject"), source=source)
    assert isinstance(scanner, CameraQrScanner)
    running.append(scanner)
    scanner.stop()  # before start: harmless
    assert scanner.health().reason == "stopped"
    collector = Collector()
    scanner.start(collector)
    with pytest.raises(RuntimeError):
        scanner.start(collector)
    push_and_wait(scanner, source, frame_with_codes("TK1.run-1"))
    scanner.stop()
    scanner.stop()
    assert not scanner.running
    scanner.start(collector)  # restartable, e.g. after maintenance mode
    push_and_wait(scanner, source, frame_with_codes("TK1.run-2"))
    assert collector.texts == ["TK1.run-1", "TK1.run-2"]


def test_the_simulator_takes_image_files_and_refuses_what_is_not_a_frame(tmp_path: Path) -> None:
    source = InjectedFrameSource()
    path = tmp_path / "code.png"
    cv2.imwrite(str(path), frame_with_codes("TK1.file"))
    source.push(path)
    source.push(str(path))
    assert source.pending == 2
    with pytest.raises(ValueError, match="cannot read image"):
        source.push(tmp_path / "missing.png")
    with pytest.raises(TypeError):
        source.push(42)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"fps": 0}, "fps"),
        ({"source": True}, "source"),
        ({"source": ""}, "source"),
        ({"dedupe_s": -1}, "dedupe_s"),
        ({"loop": "yes"}, "loop"),
        ({"width": 0}, "width"),
        ({"resolution": "hd"}, "unknown camera setting"),
    ],
)
def test_bad_camera_settings_are_named(values: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CameraConfig.from_mapping(values)


def test_camera_settings_from_a_config_table() -> None:
    config = CameraConfig.from_mapping({"source": "/dev/video0", "fps": 10, "loop": True})
    assert (config.source, config.fps, config.loop, config.dedupe_s) == ("/dev/video0", 10, True, 3.0)
