from __future__ import annotations

import pytest

from devices.face import FaceAnalyser
from tests.shared_data import FACES_DIR, require_shared


@pytest.fixture(scope="session")
def faces_dir():
    return require_shared(FACES_DIR)


@pytest.fixture(scope="session")
def analyser() -> FaceAnalyser:
    return FaceAnalyser()
