"""A full batch of offline card debits (wire.OfflineDebitBatch's 500, each at its widest) reaches the
real central over HTTP, on both databases: the body cap of that route fits the largest batch the
wire allows, and still refuses more."""

from __future__ import annotations

import datetime as dt

import pytest

from backend_client.wire import CardUseKind, DebitProofBody, ErrorCode, OfflineDebitBatch, Routes
from central.api import MAX_BODY_BYTES, MAX_OFFLINE_DEBITS_BODY_BYTES
from tests.central.kiosk_api import KioskApi, ok, refusal
from tests.support.central_server import RunningCentral

MOST = int(OfflineDebitBatch.model_json_schema()["properties"]["debits"]["maxItems"])


@pytest.fixture(scope="module")
def api(module_central: RunningCentral) -> KioskApi:
    return KioskApi(module_central)


def widest_batch(count: int) -> dict[str, object]:
    """Debits of cards the central does not know, every field as wide as a card makes it: all refused."""
    debits = [DebitProofBody(card_number=f"{9_999_999_999_000_000 + n:016d}", card_counter=0xFFFF,
                             visits=99_999, kind=CardUseKind.CONCESSIONS, terminal_id="FFFFFFFFFFFF",
                             terminal_seq=0xFFFFFFFF, at=dt.datetime(2026, 12, 31, 23, 59, 59),
                             balance_after=99_999, tac="FFFFFFFF") for n in range(count)]
    return OfflineDebitBatch(debits=debits).model_dump(mode="json")


def test_the_largest_batch_the_wire_allows_is_answered(api: KioskApi) -> None:
    body = widest_batch(MOST)
    assert len(str(body)) > MAX_BODY_BYTES  # larger than any other request may be
    result = ok(api.post(Routes.OFFLINE_DEBITS, body))
    assert (result["accepted"], result["duplicates"], len(result["refused"])) == (0, 0, MOST)


def test_a_body_past_the_routes_cap_is_still_refused(api: KioskApi) -> None:
    padding = " " * (MAX_OFFLINE_DEBITS_BODY_BYTES + 1)
    answer = api.http.post(api.central.base_url + Routes.OFFLINE_DEBITS, data=padding,
                           headers={"Content-Type": "application/json"}, timeout=15)
    details = refusal(answer, ErrorCode.BAD_REQUEST, status=413)
    assert details["max_bytes"] == MAX_OFFLINE_DEBITS_BODY_BYTES
