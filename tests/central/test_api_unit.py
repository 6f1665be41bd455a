"""Unit tests of central.api alone (in-process client): a crash answers ErrorBody internal."""

from __future__ import annotations

import warnings
from datetime import UTC, datetime
from pathlib import Path

import pytest

from backend_client.wire import ERROR_HTTP_STATUS, ErrorBody, ErrorCode, Routes
from central import admin
from central.api import create_app
from central.config import Settings
from central.db import migrate
from central.demo import load_demo
from central.secret_store import init_secrets
from central.service import Central

with warnings.catch_warnings():
    # The in-process client warns about its httpx backend on import; irrelevant to these tests.
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


@pytest.fixture
def client_and_central(tmp_path: Path) -> tuple[TestClient, Central, str]:
    settings = Settings(db_url=f"sqlite:///{tmp_path / 'c.db'}", secrets_dir=tmp_path / "secrets")
    init_secrets(settings, datetime.now(UTC))
    central = Central.open(settings)
    migrate(central.engine)
    credential_file = tmp_path / "credential"
    load_demo(central, credential_file)
    client = TestClient(create_app(central), raise_server_exceptions=False)
    return client, central, credential_file.read_text().strip()


def test_unexpected_error_answers_internal_without_details(
    client_and_central: tuple[TestClient, Central, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, central, credential = client_and_central

    def explode(*_args: object) -> None:
        raise RuntimeError("secret detail that must not leak")

    monkeypatch.setattr(central, "hello", explode)
    response = client.get(Routes.HELLO, headers={"Authorization": f"Bearer {credential}"})
    assert response.status_code == ERROR_HTTP_STATUS[ErrorCode.INTERNAL]
    body = ErrorBody.model_validate_json(response.content)
    assert body.code == ErrorCode.INTERNAL
    assert "secret detail" not in response.text


def test_validation_errors_never_echo_the_submitted_code(client_and_central: tuple[TestClient, Central, str]) -> None:
    client, _central, credential = client_and_central
    response = client.post(
        Routes.LOOKUP_CODE,
        json={"serial": "100001", "verification": "31415x"},
        headers={"Authorization": f"Bearer {credential}"},
    )
    assert response.status_code == ERROR_HTTP_STATUS[ErrorCode.BAD_REQUEST]
    assert "31415x" not in response.text


def test_kiosk_name_masking() -> None:
    from backend_client.masking import mask_kiosk_name

    assert mask_kiosk_name("Lobby-01-03") == "Lobby-**-03"
    assert mask_kiosk_name("Lobby-East-Wing-03") == "Lobby-****-****-03"
    assert mask_kiosk_name("大厅一号机") == "大***机"
    assert admin.parse_seats("a1, B12") == [("A", "1"), ("B", "12")]
