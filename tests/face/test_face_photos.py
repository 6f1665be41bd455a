"""face_recognition on the real photos of ../shared/data/faces: matching, the live check and its attacks."""

from __future__ import annotations

import numpy as np
import pytest

from bench.face import DEFAULT_THRESHOLD
from devices.camera import read_image_file
from devices.face import face_distance
from devices.face_api import Challenge, FaceOutcome
from devices.liveness import LivenessConfig
from devices.sim.live_face import Attack, LiveFace, check_frames

# A short check: a still image shows all it has to show in a few seconds (the kiosk waits 20 s).
SHORT = LivenessConfig(timeout_s=4.0, no_face_s=2.0, several_faces_s=1.0)


def encoding_of(analyser, path):
    image = read_image_file(path)
    assert image is not None
    analysis, encoding = analyser.encode(image)
    assert analysis.count == 1 and encoding is not None
    return encoding


@pytest.mark.parametrize("a, b", [("obama_1.jpg", "obama_3.jpg"), ("biden_1.jpg", "biden_2.jpg"),
                                  ("kit_harington_1.jpg", "kit_harington_2.jpg")])
def test_two_photos_of_one_person_are_within_the_threshold(faces_dir, analyser, a, b):
    distance = face_distance(encoding_of(analyser, faces_dir / a), encoding_of(analyser, faces_dir / b))
    assert distance <= DEFAULT_THRESHOLD


@pytest.mark.parametrize("a, b", [("obama_1.jpg", "biden_1.jpg"), ("kit_harington_1.jpg", "rose_leslie_1.jpg"),
                                  ("obama_7.jpg", "lin_manuel_miranda_1.png")])  # the closest pair of strangers
def test_photos_of_two_people_are_beyond_the_threshold(faces_dir, analyser, a, b):
    distance = face_distance(encoding_of(analyser, faces_dir / a), encoding_of(analyser, faces_dir / b))
    assert distance > DEFAULT_THRESHOLD


@pytest.fixture(scope="module")
def obama(faces_dir, analyser) -> LiveFace:
    return LiveFace.from_file(str(faces_dir / "obama_1.jpg"), analyser=analyser)


@pytest.mark.parametrize("challenge", ["blink,turn_left", "turn_right,blink"])
def test_the_live_sequence_passes_its_challenge_with_the_persons_encoding(faces_dir, analyser, obama, challenge):
    result = check_frames(obama.live(Challenge.parse(challenge)), Challenge.parse(challenge), analyser)
    assert result.outcome is FaceOutcome.LIVE
    assert result.encoding is not None and len(result.encoding) == 128
    # The live face matches another photo of the same person, as the central will compare it.
    assert face_distance(result.encoding, encoding_of(analyser, faces_dir / "obama_3.jpg")) <= DEFAULT_THRESHOLD


def test_the_live_sequence_fails_the_other_sides_turn(analyser, obama):
    made_for = Challenge.parse("blink,turn_left")
    result = check_frames(obama.live(made_for), Challenge.parse("blink,turn_right"), analyser, config=SHORT)
    assert result.outcome is FaceOutcome.TIMED_OUT
    assert result.encoding is None


@pytest.mark.parametrize("attack", list(Attack))
def test_a_photo_held_to_the_camera_is_refused(analyser, obama, attack):
    result = check_frames(obama.attack(attack, frames=45), Challenge.parse("blink,turn_left"), analyser, config=SHORT)
    assert result.outcome in (FaceOutcome.STILL_IMAGE, FaceOutcome.TIMED_OUT)
    assert result.encoding is None


def test_the_repeated_photo_is_named_a_still_image(analyser, obama):
    frames = obama.attack(Attack.REPEATED, frames=45)
    result = check_frames(frames, Challenge.parse("turn_left,blink"), analyser, config=SHORT)
    assert result.outcome is FaceOutcome.STILL_IMAGE


@pytest.mark.parametrize("photo", ["group_1.jpg", "group_3.jpg"])
def test_several_faces_are_refused(faces_dir, analyser, photo):
    image = read_image_file(faces_dir / photo)
    assert image is not None
    result = check_frames([image] * 30, Challenge.parse("blink,turn_left"), analyser, config=SHORT)
    assert result.outcome is FaceOutcome.SEVERAL_FACES


def test_a_blank_camera_is_no_face(analyser):
    blank = np.full((480, 640, 3), 128, np.uint8)
    result = check_frames([blank] * 30, Challenge.parse("blink,turn_left"), analyser, config=SHORT)
    assert result.outcome is FaceOutcome.NO_FACE


def test_a_photo_of_several_people_cannot_be_made_live(faces_dir, analyser):
    with pytest.raises(ValueError, match="exactly one face"):
        LiveFace.from_file(str(faces_dir / "group_2.jpg"), analyser=analyser)


def test_the_demos_endless_performance_passes_and_frames_are_the_same_each_time(analyser, obama):
    challenge = Challenge.parse("turn_left,blink")
    frames = obama.performing(challenge)
    result = check_frames((next(frames) for _ in range(120)), challenge, analyser)
    assert result.outcome is FaceOutcome.LIVE
    first, again = next(obama.live(challenge)), next(obama.live(challenge))
    assert np.array_equal(first, again)


def test_the_encoder_process_gives_the_same_encoding_as_in_process(faces_dir, analyser):
    from devices.face import EncoderProcess, FaceAnalyser

    image = read_image_file(faces_dir / "biden_1.jpg")
    assert image is not None
    encoder = EncoderProcess()
    try:
        _, in_child = FaceAnalyser(encoder=encoder).encode(image)
        assert not encoder.broken
    finally:
        encoder.close()
    _, here = analyser.encode(image)
    assert in_child is not None and here is not None
    assert face_distance(in_child, here) < 1e-6
