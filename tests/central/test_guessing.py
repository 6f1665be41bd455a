"""Guessing pickup codes: per-serial lockout and per-kiosk growing delay (settings from env)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from backend_client.wire import ErrorCode
from tests.central.kiosk_api import KioskApi, new_kiosk, new_order, ok, refusal, wrong_verification
from tests.support.central_server import RunningCentral, running_central

KIOSK_FREE_FAILURES = 4
SETTINGS = {
    "CENTRAL_SERIAL_MAX_FAILURES": "3",
    "CENTRAL_SERIAL_WINDOW_SECONDS": "300",
    "CENTRAL_LOCKOUT_SECONDS": "600",
    "CENTRAL_KIOSK_FREE_FAILURES": str(KIOSK_FREE_FAILURES),
    "CENTRAL_KIOSK_WINDOW_SECONDS": "300",
    "CENTRAL_KIOSK_DELAY_BASE_SECONDS": "5",
    "CENTRAL_KIOSK_DELAY_MAX_SECONDS": "40",
}


@pytest.fixture(scope="module")
def guarded(module_db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCentral]:
    with running_central(module_db_url, tmp_path_factory.mktemp("guarded"), env=SETTINGS) as central:
        yield central


def use_up_free_failures(kiosk: KioskApi, first_serial: int) -> None:
    """Unknown serials from ``first_serial`` on: they count against the kiosk, not against any order."""
    for serial in range(first_serial, first_serial + KIOSK_FREE_FAILURES):
        refusal(kiosk.lookup_code(str(serial), "000000"), ErrorCode.UNKNOWN_CODE)


def test_wrong_code_is_unknown_like_an_unknown_serial(guarded: RunningCentral) -> None:
    kiosk = new_kiosk(guarded)
    order = new_order(guarded)
    wrong = refusal(kiosk.lookup_code(order["serial"], wrong_verification(order)), ErrorCode.UNKNOWN_CODE)
    unknown = refusal(kiosk.lookup_code("100077", "123456"), ErrorCode.UNKNOWN_CODE)
    assert wrong == unknown == {}


def test_serial_locks_after_repeated_wrong_codes_from_any_kiosk(guarded: RunningCentral) -> None:
    order = new_order(guarded)
    first, second = new_kiosk(guarded), new_kiosk(guarded)
    for kiosk in (first, second, first):
        refusal(kiosk.lookup_code(order["serial"], wrong_verification(order)), ErrorCode.UNKNOWN_CODE)
    # Even the right code is refused now, at every kiosk.
    for kiosk in (first, second, new_kiosk(guarded)):
        details = refusal(kiosk.lookup_order(order), ErrorCode.LOCKED_OUT)
        assert details["scope"] == "serial"
        assert 0 < details["retry_after_s"] <= 600
    guarded.advance_clock(601)
    ok(first.lookup_order(order))


def test_kiosk_waits_longer_after_each_further_failure(guarded: RunningCentral) -> None:
    kiosk = new_kiosk(guarded)
    order = new_order(guarded)
    use_up_free_failures(kiosk, 100050)
    details = refusal(kiosk.lookup_order(order), ErrorCode.LOCKED_OUT)
    assert details["scope"] == "kiosk" and 0 < details["retry_after_s"] <= 5
    # Other kiosks are not slowed down.
    ok(new_kiosk(guarded).lookup_order(order))
    guarded.advance_clock(6)
    refusal(kiosk.lookup_code("100060", "000000"), ErrorCode.UNKNOWN_CODE)
    details = refusal(kiosk.lookup_order(order), ErrorCode.LOCKED_OUT)
    assert 5 < details["retry_after_s"] <= 10
    guarded.advance_clock(11)
    ok(kiosk.lookup_order(order))


def test_failures_age_out_of_the_kiosk_window(guarded: RunningCentral) -> None:
    kiosk = new_kiosk(guarded)
    order = new_order(guarded)
    use_up_free_failures(kiosk, 100070)
    refusal(kiosk.lookup_order(order), ErrorCode.LOCKED_OUT)
    guarded.advance_clock(301)
    ok(kiosk.lookup_order(order))
