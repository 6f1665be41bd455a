"""A fault script tears a year-card debit at a chosen APDU, on the simulated reader (no pcscd)."""

from __future__ import annotations

import pytest

from devices.sim.card_reader_sim import SimCardReader
from devices.sim.faults import FaultRunner, FaultScript, FaultScriptError, FaultTargets
from devices.sim.yearcard import handler_channel
from devices.yearcard import profile as p
from devices.yearcard.terminal import DebitInterrupted, DebitProof, NotDebited, YearCardTerminal
from tests.yearcard.conftest import NOW, Kit


@pytest.mark.parametrize(("when", "debited"), [("before", False), ("after", True)])
def test_a_scripted_pull_at_the_debit_command_is_recovered(kit: Kit, when: str, debited: bool) -> None:
    reader = SimCardReader()
    reader.start(lambda event: None)
    reader.insert(p.CARD_ATR, kit.card)
    script = FaultScript.parse({"step": [
        {"after": "debit", "do": "card.pull_at", "commands": 4, "when": when},
        {"after": "asked_back", "at": 5, "do": "card.put_back"},
    ]})
    runner = FaultRunner(script, FaultTargets(card=reader))
    runner.event("debit")  # SELECT, READ BINARY, INTERNAL AUTHENTICATE, INITIALIZE go through; the DEBIT is torn
    terminal = YearCardTerminal(reader, handler_channel(kit.psam), clock=lambda: NOW)
    with pytest.raises(DebitInterrupted) as interrupted:
        terminal.debit(2)
    assert not reader.card_present
    runner.event("asked_back")
    runner.advance(5)  # the patron puts the same card back
    assert reader.card_present and reader.atr == p.CARD_ATR
    outcome = terminal.recover(interrupted.value.pending)
    assert isinstance(outcome, DebitProof if debited else NotDebited)
    assert terminal.read().balance == (8 if debited else 10)


def test_a_pull_at_step_names_when_it_happens() -> None:
    with pytest.raises(FaultScriptError, match="when must be one of before, after"):
        FaultScript.parse({"step": [{"at": 0, "do": "card.pull_at", "commands": 1, "when": "during"}]})
