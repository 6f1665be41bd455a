"""The partner API over HTTP on SQLite and PostgreSQL: partner credentials kept apart from kiosks',
loss reports revoking codes at once (and a new code by SMS), accounts, face templates from photos."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from backend_client import tokens
from backend_client.wire import ErrorCode, PartnerRoutes, Routes
from tests.central.kiosk_api import new_order, ok, refusal
from tests.central.recovery_kit import (
    ENROLLED_PHOTO,
    GENUINE_PHOTO,
    MULTI_FACE_PHOTO,
    bound_order,
    fresh_phone,
    photo,
    recovery_kiosk,
    rows,
    sms_code,
)
from tests.support.central_server import RunningCentral

TIMEOUT_S = 30


class PartnerApi:
    def __init__(self, central: RunningCentral, credential: str) -> None:
        self.central = central
        self.credential = credential

    def post(self, path: str, body: Any) -> requests.Response:
        return requests.post(self.central.base_url + path, json=body, timeout=TIMEOUT_S,
                             headers={"Authorization": f"Bearer {self.credential}"})

    def report(self, order_id: str, **body: Any) -> requests.Response:
        return self.post(PartnerRoutes.LOSS_REPORT.format(order_id=order_id), {"reason": "lost", **body})

    def enrol(self, phone: str, image: bytes | None = None, encoding: list[float] | None = None) -> requests.Response:
        body: dict[str, Any] = {"phone": phone, "consent_version": "app-face-2", "consented_at":
                                datetime.now(UTC).isoformat()}
        if image is not None:
            body["image_base64"] = base64.b64encode(image).decode()
        if encoding is not None:
            body["encoding"] = encoding
        return self.post(PartnerRoutes.FACE_TEMPLATES, body)


@pytest.fixture(scope="module")
def partner(module_central: RunningCentral) -> PartnerApi:
    added = module_central.cli_json("partners", "add", "Maoyan test")
    assert added["credential"].startswith(added["partner_id"] + ".")
    listed = module_central.cli("partners", "list")
    assert listed.returncode == 0 and added["credential"].partition(".")[2] not in listed.stdout
    return PartnerApi(module_central, added["credential"])


def test_credentials_never_cross_between_kiosks_and_partners(module_central: RunningCentral,
                                                             partner: PartnerApi) -> None:
    as_kiosk = PartnerApi(module_central, module_central.kiosk_credential)
    refusal(as_kiosk.report("ord-demo-ready"), ErrorCode.UNAUTHORIZED)
    refusal(as_kiosk.post(PartnerRoutes.ACCOUNTS, {"phone": fresh_phone()}), ErrorCode.UNAUTHORIZED)
    kiosk_route = requests.get(module_central.base_url + Routes.HELLO, timeout=TIMEOUT_S,
                               headers={"Authorization": f"Bearer {partner.credential}"})
    refusal(kiosk_route, ErrorCode.UNAUTHORIZED)
    revoked = module_central.cli_json("partners", "add", "Revoked platform")
    module_central.cli_json("partners", "revoke", revoked["partner_id"])
    refusal(PartnerApi(module_central, revoked["credential"]).report("ord-demo-ready"), ErrorCode.UNAUTHORIZED)


def test_a_loss_report_revokes_the_codes_at_once_for_every_kiosk(module_central: RunningCentral,
                                                                 partner: PartnerApi) -> None:
    order = new_order(module_central)
    kiosk = recovery_kiosk(module_central)
    before = ok(kiosk.get(Routes.REVOCATIONS))["version"]
    result = ok(partner.report(order["order_id"], reason="stolen", note="phone stolen on the metro"))
    assert (result["order_id"], result["revoked_codes"], result["new_code_sent_to"]) == (order["order_id"], 1, None)
    revocations = ok(kiosk.get(Routes.REVOCATIONS))
    assert revocations["version"] > before
    assert tokens.parse_unverified(order["qr_token"])[0].token_id in revocations["revoked_token_ids"]
    refusal(kiosk.lookup_order(order), ErrorCode.REVOKED)
    refusal(kiosk.lookup_token(order["qr_token"]), ErrorCode.REVOKED)
    audit = rows(module_central, "SELECT actor, details FROM audit_log WHERE action = 'loss_reported' "
                 "AND order_id = :o", o=order["order_id"])
    assert audit and audit[0][0] == partner.credential.partition(".")[0]
    assert json.loads(audit[0][1])["reason"] == "stolen"
    refusal(partner.report("ord-nobody"), ErrorCode.UNKNOWN_CODE)


def test_a_loss_report_can_send_a_new_code_to_the_bound_phone(module_central: RunningCentral,
                                                              partner: PartnerApi) -> None:
    phone = fresh_phone()
    order = new_order(module_central)
    view = ok(partner.post(PartnerRoutes.ACCOUNTS, {"phone": phone, "order_ids": [order["order_id"]]}))
    assert view["order_ids"] == [order["order_id"]] and phone not in json.dumps(view)
    refusal(partner.report(order["order_id"], new_code_by_sms=True, phone=fresh_phone()), ErrorCode.BAD_REQUEST)
    ok(recovery_kiosk(module_central).lookup_order(order))  # the refused report revoked nothing
    result = ok(partner.report(order["order_id"], new_code_by_sms=True, phone=phone))
    assert result["revoked_codes"] == 1 and result["new_code_sent_to"] == phone[:3] + "****" + phone[-4:]
    kiosk = recovery_kiosk(module_central)
    refusal(kiosk.lookup_order(order), ErrorCode.REVOKED)
    from central.sms import read_inbox

    assert module_central.sms_spool is not None
    message = read_inbox(module_central.sms_spool, phone)[-1]
    assert message["kind"] == "pickup_code" and message["code"] == sms_code(module_central, phone, "pickup_code")
    assert ok(kiosk.lookup_code(message["serial"], message["code"]))["order"]["order_id"] == order["order_id"]


def test_face_templates_are_enrolled_from_a_photo_and_deleted(module_central: RunningCentral,
                                                              partner: PartnerApi) -> None:
    phone = fresh_phone()
    bound_order(module_central, phone)
    kiosk = recovery_kiosk(module_central)
    refusal(partner.enrol(fresh_phone(), encoding=[0.0] * 128), ErrorCode.BAD_REQUEST)  # no such account
    refusal(partner.enrol(phone, image=photo(MULTI_FACE_PHOTO).read_bytes()), ErrorCode.BAD_REQUEST)
    refusal(partner.enrol(phone, image=b"not an image"), ErrorCode.BAD_REQUEST)
    refusal(partner.enrol(phone), ErrorCode.BAD_REQUEST)  # neither photo nor encoding
    enrolled = ok(partner.enrol(phone, image=photo(ENROLLED_PHOTO).read_bytes()))
    assert enrolled["consent_version"] == "app-face-2" and enrolled["phone_masked"].endswith(phone[-4:])
    assert ok(kiosk.start(phone))["methods"] == ["face", "sms"]
    from central.face_templates import encode_image

    session_id = ok(kiosk.start(phone))["session_id"]
    verdict = ok(kiosk.face(session_id, encode_image(photo(GENUINE_PHOTO).read_bytes())))
    assert verdict["matched"] is True
    deleted = ok(partner.post(PartnerRoutes.FACE_TEMPLATE_DELETE, {"phone": phone}))
    assert deleted["deleted"] is True
    assert ok(partner.post(PartnerRoutes.FACE_TEMPLATE_DELETE, {"phone": phone}))["deleted"] is False
    assert ok(kiosk.start(phone))["methods"] == ["sms"]
    actions = [a for (a,) in rows(module_central, "SELECT action FROM audit_log WHERE action LIKE 'face_template%' "
                                  "ORDER BY id")]
    assert "face_template_enrolled" in actions and "face_template_deleted" in actions


def test_an_oversized_enrolment_is_refused_before_it_is_read(module_central: RunningCentral,
                                                             partner: PartnerApi) -> None:
    huge = b"\xff" * (4 * 1024 * 1024 + 10)
    answer = partner.enrol(fresh_phone(), image=huge)
    assert answer.status_code in (413, 422) and answer.json()["code"] == ErrorCode.BAD_REQUEST.value
