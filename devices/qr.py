"""The kiosk's one QR decode path: a camera frame in, the QR codes it shows out.

Pipeline (each step runs only when the ones before found nothing):

1. gate: reject frames that cannot hold a code (too small, or nearly uniform such as a
   covered lens or a black frame) before any decoder runs;
2. zxing-cpp on the grayscale frame: the fast reader that reads most photos alone;
3. zxing-cpp on a median-smoothed frame with a global-histogram threshold: reads codes
   whose modules are textured (codes printed over photos, on food, on rough paper) where
   the local threshold breaks each module into specks;
4. pyzbar on a frame scaled down to a bounded size: a second, independent detector for
   the odd photo zxing-cpp misses, bounded so that an empty frame stays cheap.

Only QR Code (models 1 and 2) is accepted: the kiosk's tokens are far too long for Micro
QR or rMQR, and leaving the small formats out removes their false positives.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import cv2
import numpy as np
import zxingcpp
from pyzbar import pyzbar

from devices.camera_api import DecodedCode

# A version 1 QR code is 21 modules wide: anything narrower cannot hold one.
MIN_FRAME_SIDE = 21
# Grey-level standard deviation under which a frame is taken as uniform (lens covered,
# black frame). The lowest value among real photos with a code is about 20.
UNIFORM_FRAME_STDDEV = 8.0
# pyzbar costs about 10x zxing-cpp per pixel: it sees at most this long a side, which keeps
# an empty frame cheap (pyzbar alone reads 95 of the 116 shared photos at 320, 98 at full size).
PYZBAR_MAX_SIDE = 320

_QR_FORMATS = zxingcpp.BarcodeFormats([zxingcpp.BarcodeFormat.QRCodeModel1, zxingcpp.BarcodeFormat.QRCodeModel2])
_PYZBAR_SYMBOLS = [pyzbar.ZBarSymbol.QRCODE]
_MEDIAN_KERNEL = 3


def to_gray(image: np.ndarray) -> np.ndarray:
    """The frame as a contiguous 8-bit grayscale array (BGR, BGRA, gray accepted).

    Raises ValueError for anything that is not an 8-bit image array.
    """
    if not isinstance(image, np.ndarray):
        raise ValueError(f"frame must be a numpy array, not {type(image).__name__}")
    if image.dtype != np.uint8:
        raise ValueError(f"frame must have 8-bit pixels (uint8), not {image.dtype}")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 2:
        return np.ascontiguousarray(image)
    if image.ndim != 3 or image.shape[2] not in (3, 4):
        raise ValueError(f"frame must be grayscale, BGR or BGRA, not shape {image.shape}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        return np.zeros((image.shape[0], image.shape[1]), dtype=np.uint8)
    conversion = cv2.COLOR_BGR2GRAY if image.shape[2] == 3 else cv2.COLOR_BGRA2GRAY
    return cv2.cvtColor(np.ascontiguousarray(image), conversion)


def frame_stats(gray: np.ndarray) -> tuple[float, float]:
    """Mean and standard deviation of the grey levels (for the gate and camera health)."""
    mean, stddev = cv2.meanStdDev(gray)
    return float(mean[0][0]), float(stddev[0][0])


def may_hold_code(gray: np.ndarray) -> bool:
    """Cheap gate: False for frames that certainly show no readable code."""
    if min(gray.shape[:2]) < MIN_FRAME_SIDE:
        return False
    return frame_stats(gray)[1] >= UNIFORM_FRAME_STDDEV


def read_zxing(gray: np.ndarray, binarizer: zxingcpp.Binarizer = zxingcpp.Binarizer.LocalAverage) -> list[DecodedCode]:
    """zxing-cpp alone: every QR code it reads in the frame."""
    barcodes = zxingcpp.read_barcodes(
        gray,
        formats=_QR_FORMATS,
        text_mode=zxingcpp.TextMode.Plain,  # the default mode escapes control characters
        binarizer=binarizer,
    )
    return _unique(DecodedCode(text=b.text, raw=bytes(b.bytes), decoder="zxing") for b in barcodes if b.valid)


def read_pyzbar(gray: np.ndarray) -> list[DecodedCode]:
    """pyzbar alone: every QR code it reads in the frame.

    zbar converts the symbol's bytes to UTF-8 itself, so ``raw`` is zbar's output here.
    """
    symbols = pyzbar.decode(gray, symbols=_PYZBAR_SYMBOLS)
    return _unique(
        DecodedCode(text=s.data.decode("utf-8", errors="replace"), raw=bytes(s.data), decoder="pyzbar") for s in symbols
    )


def _unique(codes: Iterable[DecodedCode]) -> list[DecodedCode]:
    """Codes in order, each payload once; empty payloads dropped (nothing to act on)."""
    seen: set[bytes] = set()
    unique: list[DecodedCode] = []
    for code in codes:
        if code.raw and code.raw not in seen:
            seen.add(code.raw)
            unique.append(code)
    return unique


def _smoothed_global(gray: np.ndarray) -> list[DecodedCode]:
    return read_zxing(cv2.medianBlur(gray, _MEDIAN_KERNEL), zxingcpp.Binarizer.GlobalHistogram)


def _bounded_pyzbar(gray: np.ndarray) -> list[DecodedCode]:
    longest = max(gray.shape[:2])
    if longest > PYZBAR_MAX_SIDE:
        scale = PYZBAR_MAX_SIDE / longest
        gray = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    return read_pyzbar(gray)


_FALLBACKS: tuple[Callable[[np.ndarray], list[DecodedCode]], ...] = (
    read_zxing,
    _smoothed_global,
    _bounded_pyzbar,
)


def decode_frame(image: np.ndarray) -> list[DecodedCode]:
    """Every QR code readable in one camera frame (BGR, BGRA or grayscale uint8 array).

    Returns [] for a frame with no code, an empty or tiny frame; raises ValueError for
    something that is not an 8-bit image array.
    """
    gray = to_gray(image)
    if not may_hold_code(gray):
        return []
    for step in _FALLBACKS:
        codes = step(gray)
        if codes:
            return codes
    return []
