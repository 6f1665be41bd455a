"""What the recovery journey tests share: a central with its SMS simulator, accounts with orders, the flow."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kiosk.flows.recovery import RecoveryFlow, Step
from kiosk.flows.runtime import InlineWorker
from tests.integration.kiosk_rig import KioskRig
from tests.support.central_server import RunningCentral, start_central

_phones = itertools.count(1)


@pytest.fixture(scope="module")
def sms_central(module_db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCentral]:
    """A central that sends its SMS to the simulator's spool (a file the test reads as the phone)."""
    workdir = tmp_path_factory.mktemp("recovery-central")
    spool = workdir / "sms.jsonl"
    central = start_central(module_db_url, workdir, env={"CENTRAL_SMS_GATEWAY": "spool",
                                                          "CENTRAL_SMS_SPOOL": str(spool)})
    try:
        yield central
    finally:
        central.stop()


def spool_of(central: RunningCentral) -> Path:
    return Path(central.env["CENTRAL_SMS_SPOOL"])


def new_phone() -> str:
    return f"1370000{next(_phones):04d}"


def bound_order(central: RunningCentral, phone: str, seats: int = 2, showing: str = "soon") -> dict[str, Any]:
    """A paid order bound to the ticketing account of ``phone`` (as the ticketing app would)."""
    seat_list = ",".join(f"R{next(_phones)}" for _ in range(seats))
    showing_id = central.demo["showings"][showing]["showing_id"]
    order: dict[str, Any] = central.cli_json("create-order", "--showing", showing_id, "--seats", seat_list,
                                             "--phone", phone)
    return order


def recovery_flow(kiosk: KioskRig, language: str = "zh_CN",
                  face_post: Callable[[Callable[[], None]], None] | None = None) -> RecoveryFlow:
    """The kiosk's recovery journey on an inline worker; ``face_post``: how the face check's news
    reaches the test's "main loop" (default: at once, on the check's thread)."""
    flow = kiosk.services.build_recovery_flow(InlineWorker(), language=lambda: language, face_post=face_post)
    assert flow is not None
    return flow


def type_digits(flow: RecoveryFlow, digits: str) -> None:
    for digit in digits:
        flow.press_digit(digit)


def to_sms_code(flow: RecoveryFlow, phone: str, order_id: str) -> None:
    flow.start()
    if flow.state.step is Step.CONSENT:
        flow.use_sms_only()
    assert flow.state.step is Step.PHONE
    type_digits(flow, phone)
    flow.submit()
    assert flow.state.step is Step.ORDERS, (flow.state.refusal, flow.state.refusal_hint)
    flow.choose_order(order_id)
    assert flow.state.step is Step.SMS_CODE, (flow.state.refusal, flow.state.refusal_hint)
