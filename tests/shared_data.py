"""Where the shared real test inputs live (never copied into this repository)."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = (REPO_ROOT / ".." / "shared" / "data").resolve()
QR_DIR = SHARED_DATA / "qr"
ESCPOS_DIR = SHARED_DATA / "escpos"
FACES_DIR = SHARED_DATA / "faces"
