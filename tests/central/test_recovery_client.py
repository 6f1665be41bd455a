"""The kiosk's own client (backend_client.CentralClient) through a whole recovery against the real
central: the wire models parse both ways and refusals arrive as their codes."""

from __future__ import annotations

import uuid

import pytest

from backend_client import wire
from backend_client.client import CentralClient
from backend_client.errors import CentralRefused
from tests.central.recovery_kit import bound_order, fresh_phone, recovery_kiosk, sms_code
from tests.support.central_server import RunningCentral


def test_a_recovery_by_sms_code_through_the_kiosk_client(module_central: RunningCentral) -> None:
    phone = fresh_phone()
    order = bound_order(module_central, phone)
    credential = recovery_kiosk(module_central).credential
    with CentralClient(module_central.base_url, credential, timeout_s=10.0, backoff_s=0.01) as client:
        with pytest.raises(CentralRefused) as refused:
            client.start_recovery(wire.RecoveryStart(phone=fresh_phone()), uuid.uuid4().hex)
        assert refused.value.code is wire.ErrorCode.RECOVERY_NO_ORDERS
        start_key = uuid.uuid4().hex
        session = client.start_recovery(wire.RecoveryStart(phone=phone, face_consent="face-v1"), start_key)
        assert client.start_recovery(wire.RecoveryStart(phone=phone, face_consent="face-v1"), start_key) == session
        assert [o.order_id for o in session.orders] == [order["order_id"]]
        assert session.methods == [wire.RecoveryMethod.SMS]
        sent = client.send_recovery_sms(session.session_id, uuid.uuid4().hex)
        assert sent.codes_left == 2
        verdict = client.check_recovery_sms(session.session_id, sms_code(module_central, phone), uuid.uuid4().hex)
        assert verdict.matched and verdict.session.verified_by is wire.RecoveryMethod.SMS
        result = client.complete_recovery(session.session_id, order["order_id"], wire.RecoveryDelivery.PRINT,
                                          uuid.uuid4().hex)
        assert result.revoked_codes == 1 and result.order is not None
        claim = client.claim(order["order_id"], order["ticket_ids"], uuid.uuid4().hex, result.order.claim_grant)
        assert len(claim.tickets) == 2
        with pytest.raises(CentralRefused) as gone:
            client.lookup_code(order["serial"], order["verification"])
        assert gone.value.code is wire.ErrorCode.REVOKED
