"""Frames with QR codes drawn by the ``qrcode`` package, for camera and pipeline tests."""

from __future__ import annotations

import numpy as np
import qrcode
import qrcode.constants


def qr_gray(payload: str | bytes, box_size: int = 6) -> np.ndarray:
    """One QR code with its quiet zone, as an 8-bit grayscale array."""
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=box_size, border=4)
    code.add_data(payload)
    code.make(fit=True)
    modules = np.array(code.get_matrix(), dtype=bool)  # includes the border
    image = np.where(modules, 0, 255).astype(np.uint8)
    return np.kron(image, np.ones((box_size, box_size), dtype=np.uint8))


def frame_with_codes(*payloads: str | bytes, size: tuple[int, int] = (480, 640)) -> np.ndarray:
    """A BGR camera-sized frame with the codes side by side on a grey background."""
    height, width = size
    frame = np.full((height, width), 200, dtype=np.uint8)
    x = 10
    for payload in payloads:
        code = qr_gray(payload, box_size=4)
        h, w = code.shape
        if x + w > width or h > height:
            raise ValueError("codes do not fit in the frame")
        top = (height - h) // 2
        frame[top : top + h, x : x + w] = code
        x += w + 10
    return np.dstack([frame, frame, frame])
