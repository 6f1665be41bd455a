"""The QR decode pipeline on real photos, generated frames and garbage input."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from bench.qr import load_folder, normalize_payload
from devices.qr import decode_frame
from tests.camera.qr_images import frame_with_codes, qr_gray
from tests.shared_data import QR_DIR, require_shared

CODE_FOLDERS = ("qrcode-1", "qrcode-2", "qrcode-3", "qrcode-5")
EMPTY_FOLDER = "falsepositives-1"


def test_reads_at_least_114_of_the_116_shared_photos() -> None:
    decoded = with_code = 0
    for folder in CODE_FOLDERS:
        for sample in load_folder(require_shared(QR_DIR / folder)):
            assert sample.expected is not None and sample.image is not None, sample.name
            with_code += 1
            texts = {normalize_payload(code.text) for code in decode_frame(sample.image)}
            decoded += sample.expected in texts
    assert with_code == 116
    assert decoded >= 114


def test_reports_nothing_on_photos_without_a_code() -> None:
    samples = load_folder(require_shared(QR_DIR / EMPTY_FOLDER))
    assert len(samples) == 21
    for sample in samples:
        assert sample.image is not None, sample.name  # the 1-pixel files are read through Pillow
        assert decode_frame(sample.image) == [], sample.name


def test_text_is_plain_and_raw_keeps_the_symbol_bytes() -> None:
    # Control characters stay as they are; the Kanji is decoded from its non-UTF-8 bytes.
    image = cv2.imread(str(require_shared(QR_DIR / "qrcode-2" / "33.png")))
    expected = (QR_DIR / "qrcode-2" / "33.txt").read_text(encoding="utf-8")
    assert image is not None
    (code,) = decode_frame(image)
    assert code.text == expected
    assert code.text.startswith("\x01\x10")
    assert code.raw != code.text.encode("utf-8")
    assert code.decoder == "zxing"


def test_every_code_in_one_frame_is_returned() -> None:
    frame = frame_with_codes("TK1.first-order", "TK1.second-order")
    assert sorted(code.text for code in decode_frame(frame)) == ["TK1.first-order", "TK1.second-order"]


def test_the_same_code_twice_in_a_frame_is_returned_once() -> None:
    frame = frame_with_codes("TK1.same", "TK1.same")
    assert [code.text for code in decode_frame(frame)] == ["TK1.same"]


def test_grayscale_bgra_and_single_channel_frames_are_read() -> None:
    gray = qr_gray("TK1.formats")
    bgra = cv2.cvtColor(gray, cv2.COLOR_GRAY2BGRA)
    for frame in (gray, bgra, gray[:, :, np.newaxis]):
        assert [code.text for code in decode_frame(frame)] == ["TK1.formats"]


def test_a_non_contiguous_view_is_read() -> None:
    wide = np.full((300, 600), 255, dtype=np.uint8)
    code = qr_gray("TK1.view", box_size=4)
    wide[: code.shape[0], : code.shape[1]] = code
    left_half = wide[:, :300]  # a view whose rows are 600 bytes apart
    assert not left_half.flags.c_contiguous
    assert [c.text for c in decode_frame(left_half)] == ["TK1.view"]


@pytest.mark.parametrize(
    "frame",
    [
        np.zeros((0, 0), dtype=np.uint8),
        np.zeros((0, 640, 3), dtype=np.uint8),
        np.zeros((1, 1, 3), dtype=np.uint8),
        np.zeros((1, 100), dtype=np.uint8),
        np.zeros((480, 640, 3), dtype=np.uint8),  # black frame
        np.full((480, 640), 255, dtype=np.uint8),  # white frame
        np.random.default_rng(7).integers(0, 256, (480, 640, 3), dtype=np.uint8),  # noise
    ],
    ids=["empty", "empty-rows", "1px", "1x100", "black", "white", "noise"],
)
def test_frames_without_a_code_give_nothing(frame: np.ndarray) -> None:
    assert decode_frame(frame) == []


@pytest.mark.parametrize(
    "frame",
    [
        np.zeros((480, 640), dtype=np.float32),
        np.zeros((480, 640), dtype=np.uint16),
        np.zeros((480, 640), dtype=bool),
        np.zeros((480, 640, 2), dtype=np.uint8),
        np.zeros((2, 480, 640, 3), dtype=np.uint8),
        np.zeros(640, dtype=np.uint8),
        [[0, 255], [255, 0]],
        None,
    ],
    ids=["float", "uint16", "bool", "2-channel", "4-d", "1-d", "list", "none"],
)
def test_what_is_not_an_8_bit_image_is_a_value_error(frame: object) -> None:
    with pytest.raises(ValueError, match="frame"):
        decode_frame(frame)  # type: ignore[arg-type]
