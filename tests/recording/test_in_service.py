"""Recording a kiosk in service: staff's switch, sessions begun mid-service, camera frames, the card reader.

One real central (HTTP, SQLite) serves the module; each test runs the real kiosk runtime and
Kivy app offscreen on a virtual clock, then replays what it recorded in the same process.
"""

from __future__ import annotations

import base64
import io
import math
import os
import time
from pathlib import Path
from typing import Any

import cv2
import pytest
from PIL import Image

from devices.card_api import CardError, NoCard
from kiosk import demo
from kiosk.recording.session import Event
from tests.recording.live import STEP_TIMEOUT_S, LiveKiosk, live_kiosk, replay_folder
from tests.support.central_server import RunningCentral

pytestmark = [pytest.mark.ui]

CARD_ATR = bytes.fromhex("3B8F8001804F0CA000000306030001000000006A")
SELECT = bytes.fromhex("00A4040007A0000000031010")
READ = bytes.fromhex("00B0000010")
READ_ANSWER = bytes(range(16)) + b"\x90\x00"


@pytest.fixture(scope="module")
def central(sqlite_central: RunningCentral) -> RunningCentral:
    return sqlite_central  # the shared one from tests/conftest.py


def screens_of(events: list[Event]) -> list[str]:
    return [str(e.data["screen"]) for e in events if e.kind == "screen"]


# -- staff's switch ----------------------------------------------------------------------------------


def test_staff_switch_stops_by_itself_after_max_minutes(central: RunningCentral, tmp_path: Path) -> None:
    stopped: list[Path] = []
    with live_kiosk(central, tmp_path, **{"recording.max_minutes": 2}) as kiosk:
        recorder = kiosk.runtime.recorder
        recorder.on_stop.append(stopped.append)
        folder = recorder.start()
        assert folder is not None and recorder.active
        for _ in range(119):
            kiosk.advance(1)
            kiosk.tick()
        assert recorder.active and not stopped
        kiosk.advance(1)  # two minutes on the kiosk's clock: the next tick ends the session
        kiosk.tick()
        assert not recorder.active and stopped == [folder]
        kiosk.advance(1)
        kiosk.tick()  # after the end: not recorded
        session = kiosk.read(folder)
    ticks = [e for e in session.events if e.kind == "timer" and e.data["name"] == "tick"]
    assert len(ticks) == 119 and max(e.t for e in session.events) < 120
    assert not session.header.from_start and session.header.snapshot["central_reachable"] is True
    assert session.warnings == []


def test_staff_switch_turns_on_and_off_repeatedly_without_a_restart(central: RunningCentral, tmp_path: Path) -> None:
    with live_kiosk(central, tmp_path) as kiosk:
        recorder = kiosk.runtime.recorder
        folders = []
        for round_ in range(3):
            folder = recorder.start()
            assert folder is not None
            for _ in range(round_ + 1):
                kiosk.advance(1)
                kiosk.tick()
            assert recorder.stop() == folder and not recorder.active
            folders.append(folder)
        # Switched on in the middle of a journey, it begins when the kiosk is next idle.
        kiosk.driver.tap("collect_button")
        kiosk.driver.wait_for("pickup.enter_code", STEP_TIMEOUT_S)
        assert recorder.start() is None and not recorder.active
        kiosk.driver.tap("nav_back")
        kiosk.driver.wait_for("home", STEP_TIMEOUT_S)
        assert recorder.active
        folders.append(recorder.stop())
        assert recorder.list_sessions() == sorted(folders)
        sessions = [kiosk.read(folder) for folder in folders]
    assert len(set(folders)) == 4
    assert [sum(e.kind == "timer" for e in s.events) for s in sessions[:3]] == [1, 2, 3]
    assert screens_of(sessions[3].events)[0] == "home"


# -- a session begun in service ----------------------------------------------------------------------


def test_session_begun_after_a_journey_replays_and_matches(central: RunningCentral, tmp_path: Path) -> None:
    orders = central.demo["orders"]
    with live_kiosk(central, tmp_path) as kiosk:
        screens = tmp_path / "screens"
        demo._code_journey(kiosk.driver, kiosk.runtime, demo.JourneyRecord("code", ""), orders["group"], screens)
        kiosk.advance(5)
        kiosk.tick()
        folder = kiosk.runtime.recorder.start()
        assert folder is not None
        kiosk.advance(2)
        demo._qr_journey(kiosk.driver, kiosk.runtime, demo.JourneyRecord("qr", ""), orders["ready"], screens)
        kiosk.advance(2)
        kiosk.tick()
        kiosk.runtime.recorder.stop()
        session = kiosk.read(folder)
        config = kiosk.config
    assert not session.header.from_start and session.header.snapshot["trust_cache"]
    assert "pickup.done" in screens_of(session.events)
    result = replay_folder(folder, config, tmp_path / "replay")
    assert result.match, result.difference.describe() if result.difference else result.notes
    assert result.screens.count("pickup.done") == 1 and len(result.tickets) == 2


# -- camera frames -----------------------------------------------------------------------------------


def blurred_code_frame() -> Any:
    """A code the camera sees as a QR symbol but cannot read (out of focus)."""
    return cv2.GaussianBlur(demo.qr_frame("TK1.eyJjaWQiOiJjaW5lbWEtZGVtbyJ9.c2lnbmF0dXJl"), (0, 0), 7)


def show_failed_codes(kiosk: LiveKiosk) -> None:
    scanner, frames = kiosk.runtime.services.scanner, kiosk.runtime.services.camera_frames
    assert scanner is not None and frames is not None
    frames.push(blurred_code_frame())
    kiosk.driver.wait_for(lambda: scanner.frames_seen >= 1, STEP_TIMEOUT_S)
    kiosk.advance(2)
    frames.push(demo.qr_frame("https://example.com/promo"))  # someone else's code
    kiosk.driver.wait_for(lambda: scanner.frames_seen >= 2, STEP_TIMEOUT_S)
    kiosk.driver.wait_for("pickup.refused", STEP_TIMEOUT_S)
    kiosk.advance(2)
    kiosk.tick()


def test_no_camera_frame_is_kept_unless_configured(central: RunningCentral, tmp_path: Path) -> None:
    with live_kiosk(central, tmp_path) as kiosk:
        folder = kiosk.runtime.recorder.start()
        assert folder is not None
        show_failed_codes(kiosk)
        kiosk.runtime.recorder.stop()
        session = kiosk.read(folder)
    assert session.of_kind("qr") and not session.of_kind("frame")


def test_frames_around_failed_decodes_are_kept_reduced_and_encrypted(central: RunningCentral, tmp_path: Path) -> None:
    with live_kiosk(central, tmp_path, **{"recording.camera_frames": True, "recording.frame_max_side": 160}) as kiosk:
        folder = kiosk.runtime.recorder.start()
        assert folder is not None
        show_failed_codes(kiosk)
        kiosk.runtime.recorder.stop()
        session = kiosk.read(folder)
        config = kiosk.config
    frames = session.of_kind("frame")
    assert [f.data["reason"] for f in frames] == ["qr_seen_not_read", "foreign_code"]
    pngs = [base64.b64decode(f.data["png"]) for f in frames]
    for png in pngs:
        image = Image.open(io.BytesIO(png))
        assert image.mode == "L" and max(image.size) <= 160
    # Only inside the encrypted session: no image file and no image bytes in clear anywhere.
    result = replay_folder(folder, config, tmp_path / "replay")
    assert result.match, result.difference.describe() if result.difference else result.notes
    assert result.screens[-1] == "pickup.refused"
    on_disk = [p for p in tmp_path.rglob("*") if p.is_file() and "replay" not in p.parts]
    assert not [p for p in on_disk if p.suffix == ".png" and "screens" not in p.parts]
    for path in [*on_disk, *(tmp_path / "replay").rglob("*")]:
        if path.is_file():
            content = path.read_bytes()
            assert not any(png[8:64] in content for png in pngs), path
    assert not kiosk.read(result.session_out).of_kind("frame")


# -- the card reader ---------------------------------------------------------------------------------


def record_card_session(central: RunningCentral, tmp_path: Path) -> tuple[Path, Any, list[bytes]]:
    """A card inserted, two APDUs exchanged, the card removed, then one command with no card."""
    with live_kiosk(central, tmp_path, **{"card.reader": "sim"}) as kiosk:
        reader = kiosk.runtime.services.card_reader
        assert reader is not None
        sim = reader.inner  # type: ignore[attr-defined]  # the configured reader inside the recorder's
        folder = kiosk.runtime.recorder.start()
        assert folder is not None
        kiosk.advance(1)
        sim.insert(CARD_ATR, [(SELECT[:2], b"\x90\x00"), (READ[:2], READ_ANSWER)])
        kiosk.advance(1)
        answers = [reader.transmit(SELECT), reader.transmit(READ)]
        kiosk.advance(1)
        sim.remove()
        with pytest.raises(NoCard):
            reader.transmit(READ)
        kiosk.advance(1)
        kiosk.tick()
        kiosk.runtime.recorder.stop()
        session = kiosk.read(folder)
        config = kiosk.config
    raw = [a.data + bytes((a.sw1, a.sw2)) for a in answers]
    assert raw == [b"\x90\x00", READ_ANSWER]
    assert [(e.data["event"], e.data["atr"]) for e in session.of_kind("card")] == \
        [("inserted", CARD_ATR.hex()), ("removed", "")]
    assert [(e.data["command"], e.data["response"]) for e in session.of_kind("apdu")] == \
        [(SELECT.hex(), "9000"), (READ.hex(), READ_ANSWER.hex()), (READ.hex(), None)]
    assert session.of_kind("apdu")[2].data["error"].startswith("NoCard")
    return folder, config, raw


def card_layer(commands: dict[int, bytes], answers: list[bytes | str]) -> Any:
    """Plays the card layer on the replay: at each recorded APDU, sends ``commands[i]`` (else the recorded one)."""
    sent = [0]

    def after_event(event: Event, runtime: Any) -> None:
        if event.kind != "apdu":
            return
        index, sent[0] = sent[0], sent[0] + 1
        try:
            answer = runtime.services.card_reader.transmit(commands.get(index, bytes.fromhex(event.data["command"])))
            answers.append(answer.data + bytes((answer.sw1, answer.sw2)))
        except CardError as exc:
            answers.append(type(exc).__name__)

    return after_event


def test_card_events_and_apdus_replay_from_the_session(central: RunningCentral, tmp_path: Path) -> None:
    folder, config, recorded = record_card_session(central, tmp_path)
    answers: list[bytes | str] = []
    result = replay_folder(folder, config, tmp_path / "replay", after_event=card_layer({}, answers))
    assert result.match, result.difference.describe() if result.difference else result.notes
    assert answers == [*recorded, "NoCard"]
    assert result.counts["card"] == 3 and not result.notes


def test_a_replay_whose_apdu_differs_names_it(central: RunningCentral, tmp_path: Path) -> None:
    folder, config, _ = record_card_session(central, tmp_path)
    other = bytes.fromhex("00B0000020")
    result = replay_folder(folder, config, tmp_path / "replay", after_event=card_layer({1: other}, []))
    assert not result.match and result.difference is not None
    assert result.difference.stream == "card" and result.difference.index == 1
    assert READ.hex() in result.difference.recorded and other.hex() in result.difference.replayed
    assert math.isfinite(result.difference.t)


# -- expiry and rotation -----------------------------------------------------------------------------


def age(folder: Path, days: float) -> None:
    """Make a session's files look ``days`` old (their time on disk is what expiry reads)."""
    then = time.time() - days * 86400
    for part in folder.iterdir():
        os.utime(part, (then, then))


def test_long_sessions_rotate_and_old_ones_expire_at_start_and_when_listed(central: RunningCentral,
                                                                            tmp_path: Path) -> None:
    with live_kiosk(central, tmp_path, **{"recording.keep_days": 2, "recording.part_max_mb": 0.004}) as kiosk:
        recorder = kiosk.runtime.recorder
        long = recorder.start()
        assert long is not None
        for _ in range(300):
            kiosk.advance(1)
            kiosk.tick()
        recorder.stop()
        assert len(list(long.glob("part-*.krec"))) >= 3
        ticks = [e for e in kiosk.read(long).events if e.kind == "timer"]
        assert len(ticks) == 300 and ticks[-1].t == 300
        recent = recorder.start()
        assert recent is not None and recorder.stop() == recent
        age(long, 3)
        age(recent, 1)
        assert recorder.list_sessions() == [recent] and not long.exists()
        age(recent, 2.5)
        newest = recorder.start()  # deletes the expired session before it writes
        assert not recent.exists()
        recorder.stop()
        assert recorder.list_sessions() == [newest]
