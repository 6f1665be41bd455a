"""Guessing pickup codes at the kiosk: the kiosk slows down, the central locks the serial.

The central runs with a small per-serial limit; the kiosk's countdown runs on a clock the
test moves, and the central's lockout on the central's controllable clock: no real waits.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from backend_client.wire import Routes
from kiosk.flows.pickup import Step
from tests.central.kiosk_api import new_order, wrong_verification
from tests.conftest import fresh_database
from tests.integration.conftest import StartKiosk
from tests.integration.kiosk_rig import enrol_kiosk, message_key
from tests.support.central_server import RunningCentral, running_central
from tests.support.clocks import ManualClock

SERIAL_MAX_FAILURES = 3
LOCKOUT_S = 120
KIOSK_FREE_TRIES = 2  # the kiosk's default pickup.wrong_code_free_tries
KIOSK_FIRST_DELAY_S = 3  # the kiosk's default pickup.wrong_code_delay_s


@pytest.fixture(scope="module")
def strict_central(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCentral]:
    workdir: Path = tmp_path_factory.mktemp("strict-central")
    limits = {"CENTRAL_SERIAL_MAX_FAILURES": str(SERIAL_MAX_FAILURES), "CENTRAL_LOCKOUT_SECONDS": str(LOCKOUT_S)}
    with fresh_database("sqlite", workdir) as url, running_central(url, workdir, env=limits) as running:
        yield running


def test_wrong_codes_slow_the_kiosk_then_lock_the_serial_everywhere(
    strict_central: RunningCentral, start_kiosk: StartKiosk
) -> None:
    central = strict_central
    order = new_order(central, seat_count=1)
    clock = ManualClock()
    kiosk = start_kiosk(central, now=clock)
    flow = kiosk.flow

    for attempt in range(1, SERIAL_MAX_FAILURES + 1):
        kiosk.enter_code(order["serial"], wrong_verification(order))
        assert (flow.state.step, message_key(flow.state.refusal)) == (Step.REFUSED, "refusal.unknown_code")
        pausing = attempt > KIOSK_FREE_TRIES  # the refusal that starts the keypad's pause says so
        assert message_key(flow.state.refusal_hint) == ("hint.check_code_after_wait" if pausing else "hint.check_code")
        assert flow.state.locked_seconds == (KIOSK_FIRST_DELAY_S if pausing else 0)

    # The kiosk's countdown: even the right code waits, and nothing is sent meanwhile.
    lookups = kiosk.calls.count(Routes.LOOKUP_CODE)
    kiosk.look_up(order)
    assert (flow.state.step, flow.state.locked_seconds) == (Step.ENTER_CODE, KIOSK_FIRST_DELAY_S)
    assert kiosk.calls.count(Routes.LOOKUP_CODE) == lookups
    clock.advance(KIOSK_FIRST_DELAY_S)
    flow.tick()
    assert flow.state.locked_seconds == 0

    # The central has locked the serial: the right code is refused, here and at any other kiosk.
    flow.submit_code()
    assert (flow.state.step, message_key(flow.state.refusal)) == (Step.REFUSED, "refusal.locked_out")
    assert message_key(flow.state.refusal_hint) == "hint.code_locked"
    # The serial's lockout is that serial's: the keypad does not count the central's wait down, and
    # the next person's code, of another order, goes through at once.
    assert flow.state.locked_seconds == 0
    another = new_order(central, seat_count=1)
    kiosk.look_up(another)
    assert flow.state.step is Step.REVIEW, flow.state.refusal
    flow.cancel()
    other = start_kiosk(central, credential=enrol_kiosk(central, "Lobby-09-02"))
    other.look_up(order)
    assert message_key(other.flow.state.refusal) == "refusal.locked_out"

    # Once the lockout is over, the right code works again.
    central.advance_clock(LOCKOUT_S + 1)
    clock.advance(LOCKOUT_S + 1)
    flow.tick()
    assert flow.state.locked_seconds == 0
    kiosk.look_up(order)
    assert flow.state.step is Step.REVIEW, flow.state.refusal
