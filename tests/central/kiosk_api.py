"""Helpers for the central's integration tests: a thin kiosk-side HTTP caller and fixtures' data."""

from __future__ import annotations

import itertools
import uuid
from typing import Any

import requests
from sqlalchemy import text

from backend_client.wire import ERROR_HTTP_STATUS, IDEMPOTENCY_HEADER, ErrorBody, ErrorCode, Routes
from central.db import make_engine
from tests.support.central_server import RunningCentral

TIMEOUT_S = 15
_seat_numbers = itertools.count(1)


class KioskApi:
    """Calls the central as one kiosk would, over real HTTP."""

    def __init__(self, central: RunningCentral, credential: str | None = None) -> None:
        self.central = central
        self.credential = credential or central.kiosk_credential
        self.http = requests.Session()
        self.http.headers.update(central.auth(credential))

    def get(self, path: str) -> requests.Response:
        return self.http.get(self.central.base_url + path, timeout=TIMEOUT_S)

    def post(self, path: str, body: Any = None, headers: dict[str, str] | None = None) -> requests.Response:
        return self.http.post(self.central.base_url + path, json=body, headers=headers, timeout=TIMEOUT_S)

    def lookup_code(self, serial: str, verification: str) -> requests.Response:
        return self.post(Routes.LOOKUP_CODE, {"serial": serial, "verification": verification})

    def lookup_order(self, order: dict[str, Any]) -> requests.Response:
        return self.lookup_code(order["serial"], order["verification"])

    def lookup_token(self, token: str) -> requests.Response:
        return self.post(Routes.LOOKUP_TOKEN, {"token": token})

    def claim(
        self, order_id: str, ticket_ids: list[str], key: str | None = None, grant: str | None = None
    ) -> requests.Response:
        """Claim with ``grant``; by default with the grant a lookup by this kiosk would give now."""
        headers = {IDEMPOTENCY_HEADER: key} if key else None
        if grant is None:
            grant = self.central.claim_grant(order_id, self.credential)
        return self.post(Routes.CLAIMS, {"order_id": order_id, "ticket_ids": ticket_ids, "claim_grant": grant}, headers)

    def start_printing(self, claim_id: str, ticket_id: str) -> requests.Response:
        """Tell the central this ticket is about to print (its leave, or a refusal)."""
        return self.post(Routes.CLAIM_PRINTING.format(claim_id=claim_id), {"ticket_id": ticket_id},
                         {IDEMPOTENCY_HEADER: f"{claim_id}:{ticket_id}:printing"})

    def revoked_token_ids(self) -> set[str]:
        return set(ok(self.get(Routes.REVOCATIONS))["revoked_token_ids"])

    def report(self, claim_id: str, outcomes: dict[str, str],
               entrance_tokens: dict[str, str] | None = None) -> requests.Response:
        body: dict[str, Any] = {"outcomes": outcomes}
        if entrance_tokens is not None:
            body["entrance_tokens"] = entrance_tokens
        return self.post(Routes.CLAIM_REPORT.format(claim_id=claim_id), body)


def refusal(response: requests.Response, code: ErrorCode, status: int | None = None) -> dict[str, Any]:
    """Assert the answer is this refusal in the wire format (with the code's status unless ``status``)."""
    expected_status = status or ERROR_HTTP_STATUS[code]
    assert response.status_code == expected_status, (response.status_code, response.text)
    body = ErrorBody.model_validate_json(response.content)
    assert body.code == code, body
    return body.details


def ok(response: requests.Response) -> dict[str, Any]:
    assert response.status_code == 200, (response.status_code, response.text)
    result: dict[str, Any] = response.json()
    return result


def new_order(central: RunningCentral, showing: str = "soon", seat_count: int = 2) -> dict[str, Any]:
    """A fresh paid order through the CLI (the only time its clear code is shown)."""
    seats = ",".join(f"Z{next(_seat_numbers)}" for _ in range(seat_count))
    showing_id = central.demo["showings"][showing]["showing_id"]
    result: dict[str, Any] = central.cli_json("create-order", "--showing", showing_id, "--seats", seats)
    return result


def wrong_verification(order: dict[str, Any]) -> str:
    """A verification code that is not the order's (one more, wrapping at 999999)."""
    return f"{(int(order['verification']) + 1) % 1_000_000:06d}"


def new_kiosk(central: RunningCentral, cinema: str | None = None) -> KioskApi:
    """Enrol another kiosk (its own failure counters) and return a caller for it."""
    name = f"Lobby-{uuid.uuid4().hex[:4]}-09"
    enrolled = central.cli_json("kiosk", "enrol", name, "--cinema", cinema or central.demo["cinema_id"])
    return KioskApi(central, enrolled["credential"])


def forget_claims(central: RunningCentral, order_id: str) -> None:
    """The central's database as a backup from before this order's claims would have it.

    The order's claims are gone and its tickets available again, as when head office restores a
    backup taken before the kiosks claimed them (the server keeps running on the same database).
    """
    engine = make_engine(central.db_url)
    try:
        with engine.begin() as connection:
            claim_ids = [row[0] for row in connection.execute(
                text("SELECT id FROM claims WHERE order_id = :order"), {"order": order_id})]
            for claim_id in claim_ids:
                connection.execute(text("DELETE FROM claim_tickets WHERE claim_id = :claim"), {"claim": claim_id})
                connection.execute(text("DELETE FROM claims WHERE id = :claim"), {"claim": claim_id})
            connection.execute(text(
                "UPDATE tickets SET status = 'available', claim_id = NULL, lease_expires_at = NULL, "
                "print_started_at = NULL, printed_at = NULL, printed_by = NULL WHERE order_id = :order"),
                {"order": order_id})
    finally:
        engine.dispose()
