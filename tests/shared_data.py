"""Where the shared real test inputs live (never copied into this repository).

They are expected in ``../shared/data`` beside the repository. A clone elsewhere has no such
folder: the tests that need it skip with a reason naming the folder, except under ``CI=true``,
where the data must be present and a missing folder fails the test.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = (REPO_ROOT / ".." / "shared" / "data").resolve()
QR_DIR = SHARED_DATA / "qr"
ESCPOS_DIR = SHARED_DATA / "escpos"
FACES_DIR = SHARED_DATA / "faces"


def require_shared(path: Path) -> Path:
    """Return ``path`` if it exists; otherwise skip the test (fail it under CI=true)."""
    if path.exists():
        return path
    reason = (
        f"needs the shared test data at {path} (a folder 'shared/data' beside the repository, "
        "see the README's test section); not present in this clone"
    )
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI must have it", pytrace=False)
    pytest.skip(reason)
