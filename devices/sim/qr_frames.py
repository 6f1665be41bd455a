"""Camera frames that show a QR code, as a phone held up to the kiosk's camera would."""

from __future__ import annotations

import numpy as np
import qrcode
from PIL import Image


def qr_frame(payload: str, size: int = 720) -> np.ndarray:
    """A camera frame (BGR) showing ``payload`` as a QR code on a phone-like light background."""
    symbol = qrcode.make(payload, border=4).get_image().convert("L")
    side = int(size * 0.6)
    symbol = symbol.resize((side, side), Image.Resampling.NEAREST)
    frame = Image.new("L", (int(size * 16 / 9), size), 200)
    frame.paste(symbol, ((frame.width - side) // 2, (size - side) // 2))
    gray = np.asarray(frame)
    return np.stack([gray, gray, gray], axis=2)
