"""The central's state lives in the database: a restart loses nothing."""

from __future__ import annotations

from backend_client.wire import ErrorCode, Routes
from tests.central.kiosk_api import KioskApi, new_kiosk, ok, refusal
from tests.support.central_server import RunningCentral


def test_state_survives_a_restart(central: RunningCentral) -> None:
    api = KioskApi(central)
    ready = central.demo["orders"]["ready"]
    claim = ok(api.claim(ready["order_id"], ready["ticket_ids"], key="before-restart"))
    ok(api.report(claim["claim_id"], {ready["ticket_ids"][0]: "printed"}))
    keys = ok(api.get(Routes.KEYS))
    revoked = central.cli_json("revoke-codes", central.demo["orders"]["single"]["order_id"])
    other = new_kiosk(central)
    central.restart()
    assert ok(api.get(Routes.KEYS)) == keys
    replay = ok(api.claim(ready["order_id"], ready["ticket_ids"], key="before-restart"))
    assert (replay["claim_id"], replay["tickets"]) == (claim["claim_id"], claim["tickets"])
    refusal(other.claim(ready["order_id"], [ready["ticket_ids"][1]]), ErrorCode.BEING_COLLECTED)
    ok(api.report(claim["claim_id"], {ready["ticket_ids"][1]: "released"}))
    tickets = {t["ticket_id"]: t["status"] for t in ok(api.lookup_token(ready["qr_token"]))["order"]["tickets"]}
    assert tickets == {ready["ticket_ids"][0]: "printed", ready["ticket_ids"][1]: "available"}
    refusal(api.lookup_order(central.demo["orders"]["single"]), ErrorCode.REVOKED)
    ok(api.lookup_order(revoked))
    ok(other.get(Routes.HELLO))
