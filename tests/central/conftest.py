"""Two kiosks of the demo cinema on the module's central, for tests that claim and compete."""

from __future__ import annotations

import pytest

from tests.central.kiosk_api import KioskApi, new_kiosk
from tests.support.central_server import RunningCentral


@pytest.fixture(scope="module")
def kiosk_a(module_central: RunningCentral) -> KioskApi:
    return KioskApi(module_central)


@pytest.fixture(scope="module")
def kiosk_b(module_central: RunningCentral) -> KioskApi:
    return new_kiosk(module_central)
