"""The terminal against a card whose answers go wrong (hypothesis): it raises a YearCardError or
succeeds, never another exception; a proof it returns is always a debit the card made; and with a
sound card (answers lost in transport, or one garbled answer to the DEBIT itself) it never calls
"not debited" a debit the card made, nor the other way round."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devices.card_api import ApduResponse, CardRemoved, CardUnresponsive
from devices.yearcard import profile as p
from devices.yearcard.terminal import DebitInterrupted, DebitProof, NotDebited, YearCardError, YearCardTerminal
from tests.yearcard.conftest import NOW, Kit

STATUS_WORDS = [0x9000, 0x6985, 0x9302, 0x6A83, 0x9406, 0x6581, 0x9401, 0x6F00]
lost = st.tuples(st.just("lost"), st.booleans(), st.booleans())  # executed first?, removed or unresponsive
garbled = st.one_of(
    st.tuples(st.just("answer"), st.binary(max_size=40), st.sampled_from(STATUS_WORDS)),
    st.tuples(st.just("flip"), st.integers(0, 60), st.integers(0, 7)),
)
# a few commands (by their position in the card dialogue) go wrong, the others go through
any_faults = st.dictionaries(st.integers(0, 24), st.one_of(lost, garbled), max_size=3)
lost_only = st.dictionaries(st.integers(0, 24), lost, max_size=2)

PRISTINE: dict[str, bytes] = {}


def fresh(kit: Kit) -> None:
    """The card and PSAM as the fixture made them (hypothesis runs many examples on one fixture)."""
    for path in (kit.card_path, kit.psam_path):
        path.write_bytes(PRISTINE.setdefault(str(path), path.read_bytes()))
    kit.reload()


class Mangled:
    def __init__(self, card: Callable[[bytes], bytes], plan: dict[int, Any], debit_answer: Any = None) -> None:
        self.card, self.plan, self.debit_answer, self.count = card, plan, debit_answer, 0

    def __call__(self, apdu: bytes) -> ApduResponse:
        step = self.plan.get(self.count)
        self.count += 1
        if apdu[1] == p.INS_DEBIT and self.debit_answer is not None:
            step, self.debit_answer = self.debit_answer, None
        if step is None:
            return ApduResponse.from_bytes(self.card(apdu))
        if step[0] == "lost":
            if step[1]:
                self.card(apdu)
            raise CardRemoved("lost (test)") if step[2] else CardUnresponsive("lost (test)")
        answer = self.card(apdu)
        if step[0] == "answer":
            return ApduResponse(step[1], step[2] >> 8, step[2] & 0xFF)
        raw = bytearray(answer)
        raw[step[1] % len(raw)] ^= 1 << step[2]
        return ApduResponse.from_bytes(bytes(raw))


def debit_and_judge(kit: Kit, channel: Mangled, visits: int, sound: bool) -> None:
    card = kit.card
    before = (card.state.balance, card.state.counter)
    terminal = YearCardTerminal(channel, lambda apdu: ApduResponse.from_bytes(kit.psam(apdu)), clock=lambda: NOW)
    try:
        proof = terminal.debit(visits)
    except DebitInterrupted as torn:
        outcome = kit.terminal().recover(torn.pending)  # the card back, answering soundly
        debited = card.state.counter == before[1] + 1
        assert isinstance(outcome, DebitProof if debited else NotDebited)
        assert not isinstance(outcome, DebitProof) or outcome.verify(kit.master.tac)
        return
    except YearCardError as refused:
        assert str(refused)
        if sound:
            assert (card.state.balance, card.state.counter) == before, f"debited, yet refused: {refused!r}"
        return
    # a proof is a MAC2 the PSAM accepted: only the card's own debit makes one
    assert card.state.counter == before[1] + 1
    assert card.state.log[0][:2] == proof.pending.card_counter.to_bytes(2, "big")
    assert card.state.balance == before[0] - visits


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=any_faults, visits=st.integers(1, 3))
def test_any_fault_gives_a_year_card_error_or_a_true_proof(kit: Kit, plan: dict[int, Any], visits: int) -> None:
    fresh(kit)
    debit_and_judge(kit, Mangled(kit.card, plan), visits, sound=False)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=lost_only, debit_answer=st.one_of(st.none(), garbled), visits=st.integers(1, 3))
def test_a_sound_card_is_never_misjudged(kit: Kit, plan: dict[int, Any], debit_answer: Any, visits: int) -> None:
    fresh(kit)
    debit_and_judge(kit, Mangled(kit.card, plan, debit_answer), visits, sound=True)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=any_faults)
def test_a_mangled_read_is_a_reading_or_a_year_card_error(kit: Kit, plan: dict[int, Any]) -> None:
    fresh(kit)
    try:
        reading = YearCardTerminal(Mangled(kit.card, plan), lambda apdu: ApduResponse.from_bytes(kit.psam(apdu))).read()
    except YearCardError as refused:
        assert str(refused)
        return
    assert reading.card_number == kit.terminal().read().card_number  # the issuer's MAC vouches for it
