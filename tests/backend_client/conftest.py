"""The client as a kiosk holds it against the real central, directly or through the fault-injecting proxy."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from backend_client.client import CentralClient
from devices.sim.central_proxy import CentralProxy
from tests.support.central_server import RunningCentral


def client_for(url: str, credential: str, **options: Any) -> CentralClient:
    """A client with a short back-off (tests wait for retries, not for politeness)."""
    settings: dict[str, Any] = {"timeout_s": 5.0, "backoff_s": 0.01, **options}
    return CentralClient(url, credential, **settings)


@pytest.fixture
def proxy(central: RunningCentral) -> Iterator[CentralProxy]:
    with CentralProxy(central.base_url) as running:
        yield running


@pytest.fixture
def proxied(central: RunningCentral, proxy: CentralProxy) -> Iterator[CentralClient]:
    """A client of ``central`` that goes through ``proxy``."""
    with client_for(proxy.url, central.kiosk_credential) as made:
        yield made
