"""The demo's recovery plan: the face path with two photos of one person, else the SMS code, said in one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from kiosk import demo_recovery
from kiosk.demo import JourneyRecord


def test_two_photos_of_one_person_make_the_face_path(tmp_path: Path) -> None:
    for name in (demo_recovery.ENROL_PHOTO, demo_recovery.CAMERA_PHOTO):
        (tmp_path / name).write_bytes(b"jpeg")
    chosen = demo_recovery.plan(tmp_path)
    assert chosen.face and chosen.why_sms == ""
    assert chosen.enrol_photo != chosen.camera_photo  # the camera never shows the enrolled photo itself


def test_without_the_photos_the_sms_path_is_said_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                                             ) -> None:
    (tmp_path / demo_recovery.ENROL_PHOTO).write_bytes(b"jpeg")  # one photo is not enough
    chosen = demo_recovery.plan(tmp_path)
    assert not chosen.face and str(tmp_path) in chosen.why_sms
    demo_recovery.say_sms_path(chosen.why_sms)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "plays the SMS code path" in err and str(tmp_path) in err


def test_the_summary_says_how_the_recovery_was_verified_and_what_became_of_the_old_code() -> None:
    record = JourneyRecord("recovery", "ord-demo-recovery", verified_by="face", old_code="refused: revoked")
    assert record.as_json()["verified_by"] == "face" and record.as_json()["old_code"] == "refused: revoked"
    assert "verified_by" not in JourneyRecord("code", "ord-1").as_json()  # the other journeys' entries as before


def test_a_reason_of_several_lines_is_said_in_one(capsys: pytest.CaptureFixture[str]) -> None:
    demo_recovery.say_sms_path("the demo face was not enrolled (central said:\nTraceback...\n  no face found)")
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no face found" in err
