"""The decode path on camera-like photos the suite renders itself (no shared data needed)."""

from __future__ import annotations

import numpy as np
import pytest

from devices.qr import decode_frame
from tests.camera.synthetic_photos import DISTORTIONS, photo, scenes_without_a_code

# The lengths the kiosk meets: a short test payload, and a signed order token like the
# central's (prefix, claims and an Ed25519 signature, about 265 characters).
SHORT_PAYLOAD = "TK1.short-order-7Q2"
TOKEN_PAYLOAD = "TK1." + "eyJvcmRlciI6Im9yZC0wMDAxIiwiY2luZW1hIjoiU0gtMDEifQ" * 3 + "." + "s1gN4tuRe" * 9


@pytest.mark.parametrize("distortion", sorted(DISTORTIONS))
@pytest.mark.parametrize("payload", [SHORT_PAYLOAD, TOKEN_PAYLOAD], ids=["short", "token"])
def test_a_distorted_photo_of_a_code_reads_its_exact_payload(distortion: str, payload: str) -> None:
    sample = photo(distortion, payload)
    assert sample.image.dtype == np.uint8 and sample.image.shape == (480, 640)
    assert [code.text for code in decode_frame(sample.image)] == [payload]


@pytest.mark.parametrize("scene", sorted(scenes_without_a_code()))
def test_a_scene_without_a_code_reports_nothing(scene: str) -> None:
    assert decode_frame(scenes_without_a_code()[scene]) == []
