"""Camera-like photos of QR codes made by the suite itself.

The decode path must be proven in any clone, also one without ../shared/data: these are
rendered codes put through what a lobby camera does to a phone screen or a paper ticket
(perspective, defocus, sensor noise, glare, low contrast, small size), deterministically.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from tests.camera.qr_images import qr_gray

FRAME_SIZE = (480, 640)  # height, width: the kiosk camera's default


def _place(code: np.ndarray, side: int, background: int = 170) -> np.ndarray:
    """The code scaled to ``side`` pixels in the middle of a grey camera-sized frame."""
    height, width = FRAME_SIZE
    scaled = cv2.resize(code, (side, side), interpolation=cv2.INTER_AREA)
    frame = np.full(FRAME_SIZE, background, dtype=np.uint8)
    top, left = (height - side) // 2, (width - side) // 2
    frame[top : top + side, left : left + side] = scaled
    return frame


def straight(code: np.ndarray) -> np.ndarray:
    return _place(code, 300)


def perspective(code: np.ndarray) -> np.ndarray:
    """A phone held at an angle: the code's far edge shorter than its near edge."""
    frame = _place(code, 300)
    height, width = FRAME_SIZE
    src = np.array([[170, 90], [470, 90], [470, 390], [170, 390]], dtype=np.float32)
    dst = np.array([[200, 110], [440, 80], [470, 400], [170, 370]], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(src, dst)
    return cv2.warpPerspective(frame, matrix, (width, height), borderValue=170)


def rotated(code: np.ndarray) -> np.ndarray:
    frame = _place(code, 280)
    height, width = FRAME_SIZE
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), 23, 1.0)
    return cv2.warpAffine(frame, matrix, (width, height), borderValue=170)


def defocused(code: np.ndarray) -> np.ndarray:
    return cv2.GaussianBlur(_place(code, 320), (0, 0), sigmaX=1.6)


def motion_blurred(code: np.ndarray) -> np.ndarray:
    kernel = np.zeros((7, 7), dtype=np.float32)
    kernel[3, :] = 1 / 7
    return cv2.filter2D(_place(code, 320), -1, kernel)


def noisy(code: np.ndarray) -> np.ndarray:
    frame = _place(code, 300).astype(np.int16)
    noise = np.random.default_rng(11).normal(0, 22, FRAME_SIZE).astype(np.int16)
    return np.clip(frame + noise, 0, 255).astype(np.uint8)


def glare(code: np.ndarray) -> np.ndarray:
    """A bright lobby light reflected on a phone screen across part of the code."""
    frame = _place(code, 300).astype(np.float32)
    height, width = FRAME_SIZE
    ys, xs = np.mgrid[0:height, 0:width]
    spot = np.exp(-(((xs - 260) ** 2) / (2 * 60**2) + ((ys - 200) ** 2) / (2 * 45**2)))
    return np.clip(frame + spot * 150, 0, 255).astype(np.uint8)


def low_contrast(code: np.ndarray) -> np.ndarray:
    """A dim phone screen: dark modules and light ones only 45 grey levels apart."""
    frame = _place(code, 300).astype(np.float32)
    return (95 + frame * (45 / 255)).astype(np.uint8)


def small(code: np.ndarray) -> np.ndarray:
    """A code held far from the lens: about three pixels per module."""
    return _place(code, 3 * (code.shape[0] // 6))


def everything(code: np.ndarray) -> np.ndarray:
    """Angle, defocus, light noise and a dim screen together."""
    frame = low_contrast(code)
    height, width = FRAME_SIZE
    src = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float32)
    dst = np.array([[20, 15], [width - 30, 0], [width, height], [0, height - 20]], dtype=np.float32)
    frame = cv2.warpPerspective(frame, cv2.getPerspectiveTransform(src, dst), (width, height), borderValue=120)
    frame = cv2.GaussianBlur(frame, (0, 0), sigmaX=1.0)
    noise = np.random.default_rng(5).normal(0, 6, FRAME_SIZE)
    return np.clip(frame + noise, 0, 255).astype(np.uint8)


DISTORTIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "straight": straight,
    "perspective": perspective,
    "rotated": rotated,
    "defocused": defocused,
    "motion-blurred": motion_blurred,
    "noisy": noisy,
    "glare": glare,
    "low-contrast": low_contrast,
    "small": small,
    "everything": everything,
}


@dataclass(frozen=True)
class SyntheticPhoto:
    name: str
    payload: str
    image: np.ndarray


def photo(distortion: str, payload: str) -> SyntheticPhoto:
    code = qr_gray(payload, box_size=6)
    return SyntheticPhoto(distortion, payload, DISTORTIONS[distortion](code))


def scenes_without_a_code() -> dict[str, np.ndarray]:
    """Lobby-like frames with no code: textures where a careless detector finds one."""
    rng = np.random.default_rng(3)
    height, width = FRAME_SIZE
    ys, xs = np.mgrid[0:height, 0:width]
    checker = (((xs // 12) + (ys // 12)) % 2 * 255).astype(np.uint8)
    stripes = ((xs // 5) % 2 * 255).astype(np.uint8)
    text_like = np.full(FRAME_SIZE, 235, dtype=np.uint8)
    for row in range(40, height - 40, 28):
        for col in range(30, width - 30, 14):
            if rng.random() < 0.7:
                cv2.rectangle(text_like, (col, row), (col + 9, row + 14), 30, thickness=2)
    gradient = (xs * 255 / width).astype(np.uint8)
    speckle = rng.integers(0, 256, FRAME_SIZE, dtype=np.uint8)
    cells = rng.integers(0, 2, (40, 53), dtype=np.uint8) * 255
    blocks = cv2.resize(cells, (width, height), interpolation=cv2.INTER_NEAREST)
    return {
        "checkerboard": checker,
        "stripes": stripes,
        "text-like": text_like,
        "gradient": gradient,
        "speckle": speckle,
        "random-blocks": blocks,
    }
