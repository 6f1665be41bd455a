"""Authentication, malformed requests, faults and the OpenAPI document: always an ErrorBody, never a traceback."""

from __future__ import annotations

import pytest
import requests

from backend_client.wire import ErrorCode, Routes
from tests.central.kiosk_api import KioskApi, new_kiosk, ok, refusal
from tests.support.central_server import RunningCentral


@pytest.fixture(scope="module")
def api(module_central: RunningCentral) -> KioskApi:
    return KioskApi(module_central)


def _no_traceback(response: requests.Response) -> None:
    assert "Traceback" not in response.text and 'File "' not in response.text


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer", "Bearer nodot", "Basic a.b", "Bearer kiosk-demo-1.wrong-secret", "Bearer nobody.secret"],
    ids=["missing", "empty", "no-secret", "wrong-scheme", "wrong-secret", "unknown-kiosk"],
)
def test_kiosk_routes_refuse_a_missing_or_wrong_credential(api: KioskApi, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    for method, path in [
        ("GET", Routes.HELLO),
        ("GET", Routes.KEYS),
        ("GET", Routes.REVOCATIONS),
        ("POST", Routes.LOOKUP_CODE),
        ("POST", Routes.CLAIMS),
    ]:
        response = requests.request(method, api.central.base_url + path, headers=headers, json={}, timeout=10)
        refusal(response, ErrorCode.UNAUTHORIZED)


def test_revoked_kiosk_is_refused_at_once(api: KioskApi) -> None:
    other = new_kiosk(api.central)
    hello = ok(other.get(Routes.HELLO))
    api.central.cli_json("kiosk", "revoke", hello["kiosk_id"])
    refusal(other.get(Routes.HELLO), ErrorCode.UNAUTHORIZED)


def test_rotated_kiosk_credential_replaces_the_old_one(api: KioskApi) -> None:
    other = new_kiosk(api.central)
    kiosk_id = ok(other.get(Routes.HELLO))["kiosk_id"]
    rotated = api.central.cli_json("kiosk", "rotate", kiosk_id)
    refusal(other.get(Routes.HELLO), ErrorCode.UNAUTHORIZED)
    assert ok(KioskApi(api.central, rotated["credential"]).get(Routes.HELLO))["kiosk_id"] == kiosk_id


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[]",
        b'{"serial": "12345", "verification": "123456"}',
        b'{"serial": "123456", "verification": 123456}',
        b'{"serial": "12345a", "verification": "123456"}',
        b'{"serial": "123456"}',
        b"",
        '{"serial": "１２３４５６", "verification": "123456"}'.encode(),
    ],
    ids=["not-json", "array", "short-serial", "number", "letter", "missing-field", "empty", "fullwidth-digits"],
)
def test_malformed_lookup_bodies_are_bad_requests(api: KioskApi, body: bytes) -> None:
    response = api.http.post(
        api.central.base_url + Routes.LOOKUP_CODE, data=body, headers={"Content-Type": "application/json"}, timeout=10
    )
    refusal(response, ErrorCode.BAD_REQUEST)
    _no_traceback(response)


def test_malformed_claim_and_report_bodies_are_bad_requests(api: KioskApi) -> None:
    refusal(api.claim("x", []), ErrorCode.BAD_REQUEST)
    refusal(api.claim("x", ["a"] * 65), ErrorCode.BAD_REQUEST)
    refusal(api.claim("x", ["a", "a"]), ErrorCode.BAD_REQUEST)
    report = Routes.CLAIM_REPORT.format(claim_id="clm-x")
    refusal(api.post(report, {"outcomes": {"t": "lost"}}), ErrorCode.BAD_REQUEST)
    refusal(api.post(Routes.LOOKUP_TOKEN, {"token": "x" * 5000}), ErrorCode.BAD_REQUEST)


def test_oversized_body_is_refused_before_parsing(api: KioskApi) -> None:
    response = api.http.post(
        api.central.base_url + Routes.LOOKUP_TOKEN,
        data=b"{" + b" " * 200_000 + b"}",
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    assert response.status_code == 413
    assert response.json()["code"] == ErrorCode.BAD_REQUEST.value


def test_unknown_path_answers_in_the_wire_format(api: KioskApi) -> None:
    # The wire format's refusal body, with HTTP's own status for a path that does not exist.
    details = refusal(api.get("/api/v1/nothing-here"), ErrorCode.BAD_REQUEST, status=404)
    assert details == {"http_status": 404}


def test_openapi_document_and_docs_page_are_served(api: KioskApi) -> None:
    document = requests.get(api.central.base_url + "/openapi.json", timeout=10).json()
    for path in (
        Routes.HELLO,
        Routes.LOOKUP_CODE,
        Routes.LOOKUP_TOKEN,
        Routes.CLAIMS,
        Routes.CLAIM_REPORT,
        Routes.KEYS,
        Routes.REVOCATIONS,
    ):
        assert path in document["paths"]
    assert "ErrorBody" in document["components"]["schemas"]
    assert requests.get(api.central.base_url + "/docs", timeout=10).status_code == 200


def test_injected_faults_hit_the_next_responses_only(api: KioskApi) -> None:
    api.central.inject_faults(count=2, status=503)
    for _ in range(2):
        response = api.get(Routes.HELLO)
        assert response.status_code == 503
        assert response.json()["code"] == "internal"
    ok(api.get(Routes.HELLO))
    api.central.inject_faults(count=1, status=None, malformed=True)
    malformed = api.get(Routes.HELLO)
    assert malformed.status_code == 200
    with pytest.raises(ValueError):
        malformed.json()
    ok(api.get(Routes.HELLO))
