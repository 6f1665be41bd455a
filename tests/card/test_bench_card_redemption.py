"""The year-card redemption benchmarks' command lines at a tiny size, through a real pcscd with the
card and PSAM emulators, the real central and the virtual printer: their tables' invariants (tickets
for every visit, none without one, the ledger agreeing with the card), not their timings.

Run under the shared lock: ``flock /work/vpcd.lock python -m pytest -q tests/card/test_bench_card_redemption.py``.
"""

from __future__ import annotations

import json
import subprocess
import sys

from devices.sim.yearcard import PSAM_READER

# The session's pcscd comes from tests/card/conftest.py's `pcsc` fixture: importing it here would make a
# second, module-owned pcscd that the restart tests would then find running and not their own.
from tests.card.conftest import EVENT_TIMEOUT_S, Pcsc, card_in_virtual_reader, wait_until
from tests.shared_data import REPO_ROOT

STAGES = {"detect", "read", "central", "debit", "printer", "kiosk"}


def run_bench(module: str, *args: str) -> subprocess.CompletedProcess[str]:
    assert wait_until(lambda: not card_in_virtual_reader() and not card_in_virtual_reader(PSAM_READER),
                      EVENT_TIMEOUT_S), "a card is still in a virtual reader"
    return subprocess.run([sys.executable, "-m", module, *args], cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=600)


def test_tap_to_tickets_prints_two_tickets_a_round_split_per_stage(pcsc: Pcsc) -> None:
    result = run_bench("bench.card_redemption", "--repeat", "2", "--json")
    assert result.returncode == 0, result.stderr
    (run,) = json.loads(result.stdout)["runs"]
    assert (run["db"], run["rounds"]) == ("sqlite", 2)
    # two tickets and two visits a round; the ledger holds what the card lost
    assert (run["tickets_printed"], run["visits_off_card"], run["ledger_visits"], run["ledger_visits_left"]) == \
        (4, 4, 4, 0)
    # tap, showings, seat map, hold, debiting, confirm, then leave to print and a report per ticket
    assert run["central_calls"]["p50"] == 10
    assert STAGES | {"total", "card_screen"} <= set(run)
    for stage in STAGES:
        assert run[stage]["p50"] >= 0
        assert run[stage]["max"] <= run["total"]["max"]


def test_a_redemption_torn_at_the_debit_loses_no_visit_and_prints_no_ticket_without_one(pcsc: Pcsc) -> None:
    # the card's DEBIT FOR PURCHASE is its 5th APDU (index 4), the PSAM's MAC2 check its 6th (index 5)
    result = run_bench("bench.card_tears", "--at", "4,5", "--json")
    assert result.returncode == 0, result.stderr
    (run,) = json.loads(result.stdout)["runs"]
    assert run["card_apdus"] == ["SELECT", "READ BINARY", "INTERNAL AUTHENTICATE", "INITIALIZE FOR PURCHASE",
                                 "DEBIT FOR PURCHASE"]
    assert run["psam_apdus"] == ["SELECT", "VERIFY PUBLIC", "VERIFY AUTH", "SELECT", "INIT SAM FOR PURCHASE",
                                 "CREDIT SAM (MAC2)"]
    assert run["clean"]["at_once"] == "done, 2 printed"
    cases = {(c["pulled"], c["at"], c["executed"]): c for c in run["cases"]}
    assert cases[("card", 4, True)]["apdu"] == "DEBIT FOR PURCHASE"
    assert set(cases) == {("card", 4, False), ("card", 4, True), ("psam", 4, False), ("psam", 4, True),
                          ("psam", 5, False), ("psam", 5, True)}
    totals = run["totals"]
    assert (totals["cases"], totals["visits_lost"], totals["tickets_without_visits"], totals["ledger_disagrees"]) == \
        (6, 0, 0, 0)
    # debited: the card that executed its DEBIT, and the PSAM pulled at the MAC2 check (the card had debited)
    debited = {key for key, c in cases.items() if c["visits_off_card"]}
    assert debited == {("card", 4, True), ("psam", 5, False), ("psam", 5, True)}
    assert all(cases[key]["tickets_printed"] == 2 for key in debited)
    assert cases[("card", 4, True)]["at_once"] == "done, 2 printed"
    assert cases[("card", 4, False)]["at_once"] == "card_not_debited"
