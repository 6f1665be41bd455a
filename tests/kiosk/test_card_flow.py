"""The year-card journey on its own: the real flow, journal, claim printer, terminal and card/PSAM
emulators in-process; only the central and the printer are fakes (tests/support/fakes.py)."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from backend_client.errors import CentralRefused, CentralUnreachable
from backend_client.wire import CardStatus, CardUseKind, ErrorCode, RedemptionState, RedemptionView, SeatRef, SeatState
from devices.card_api import ApduResponse, CardRemoved, CardUnresponsive, NoCard
from devices.sim.yearcard_os import YearCardOS, personalised_image
from devices.yearcard import crypto
from devices.yearcard import profile as p
from kiosk.config import YearCardSection
from kiosk.flows.card import Step
from kiosk.flows.runtime import Message
from kiosk.journal import CardDebitState
from kiosk.yearcard import flush_card_work
from tests.support.fakes import (
    CARD_LOCAL_NOW,
    CARD_NUMBER,
    CARD_TERMINAL_ID,
    CARD_TODAY,
    PAPER_OUT,
    CardRig,
    build_card_rig,
    card_showing,
)

# Card APDUs of a debit after confirm: SELECT, READ BINARY, INTERNAL AUTHENTICATE, INITIALIZE, DEBIT.
DEBIT_CARD_APDUS = 5


@pytest.fixture
def rig(tmp_path: Path) -> CardRig:
    return build_card_rig(tmp_path)


def to_confirm(rig: CardRig, people: int = 2) -> None:
    """Card on the reader, Redeem, the first showing, ``people``, best seats, on to confirm."""
    rig.kit.insert()
    assert rig.flow.state.step is Step.CARD, rig.flow.state.refusal
    rig.flow.redeem()
    rig.flow.choose_showing("show-1")
    rig.flow.set_people(people)
    rig.flow.choose_seats()
    rig.flow.best_available()
    rig.flow.seats_chosen()
    assert rig.flow.state.can_confirm


def refusal_key(rig: CardRig) -> str:
    assert rig.flow.state.step is Step.REFUSED, rig.flow.state.step
    assert rig.flow.state.refusal is not None
    return rig.flow.state.refusal.key


def hint_key(rig: CardRig) -> str:
    assert rig.flow.state.refusal_hint is not None
    return rig.flow.state.refusal_hint.key


# ---- reading the card ---------------------------------------------------------------------


def test_a_card_at_home_shows_its_masked_number_type_visits_expiry_and_own_records(rig: CardRig) -> None:
    rig.kit.insert()
    state = rig.flow.state
    assert rig.host.screen == "card.card"
    assert state.card is not None
    assert state.card.masked_number == "8800********0042"
    assert state.card.type_name == "年卡 10次"
    assert state.card.visits_left == 10
    assert state.card.expires_on is not None and state.card.expires_on == rig.central.taps[0].expires_on
    assert not state.card.offline and state.can_redeem
    assert rig.central.taps[0].card_number == CARD_NUMBER  # the central hears the full number
    assert CARD_NUMBER not in repr(state)  # screens only ever get it masked


def test_the_cards_own_last_transactions_are_shown_newest_first(rig: CardRig) -> None:
    to_confirm(rig, people=1)
    rig.flow.confirm()
    rig.flow.finish()
    rig.kit.reader.remove()
    rig.kit.put_back()
    records = rig.flow.state.records
    assert len(records) == 1
    assert (records[0].visits, records[0].kind, records[0].balance_after) == (1, "tickets", 9)
    assert records[0].at == CARD_LOCAL_NOW
    assert records[0].cinema_code == CARD_TERMINAL_ID[:4].hex().upper()


def test_a_card_removed_while_it_is_read_goes_home_quietly(rig: CardRig) -> None:
    rig.kit.reader.pull_at_command(1)
    rig.kit.insert()
    assert rig.host.screen == "home"
    assert rig.flow.state.refusal is None
    assert rig.central.calls == []


@pytest.mark.parametrize(("status", "key", "hint"), [
    (CardStatus.BLACKLISTED, "refusal.card_blacklisted", "hint.see_staff"),
    (CardStatus.EXPIRED, "refusal.card_expired", "hint.card_renew_at_counter"),
    (CardStatus.MADE, "refusal.card_not_sold", "hint.card_activate_at_counter"),
    (CardStatus.RECYCLED, "refusal.card_recycled", "hint.card_return_at_counter"),
])
def test_the_centrals_word_on_the_card_refuses_with_the_next_step(rig: CardRig, status: CardStatus, key: str,
                                                                   hint: str) -> None:
    rig.central.status = status
    rig.central.blacklist_reason = "reported stolen" if status is CardStatus.BLACKLISTED else None
    rig.kit.insert()
    assert refusal_key(rig) == key
    assert hint_key(rig) == hint
    if status is CardStatus.BLACKLISTED:
        assert rig.flow.state.refusal == Message.of(key, reason="reported stolen")


@pytest.mark.parametrize(("code", "key"), [
    (ErrorCode.CARD_UNKNOWN, "refusal.card_unknown"),
    (ErrorCode.CARD_MISMATCH, "refusal.card_mismatch"),
    (ErrorCode.CARD_BLACKLISTED, "refusal.card_blacklisted"),
])
def test_the_centrals_refusal_at_the_tap_is_shown(rig: CardRig, code: ErrorCode, key: str) -> None:
    rig.central.fail["tap"] = CentralRefused(code, "refused")
    rig.kit.insert()
    assert refusal_key(rig) == key


def test_another_chains_card_is_refused_as_unknown(rig: CardRig) -> None:
    rig.kit.reader.insert(p.CARD_ATR, [(b"\x00\xa4", b"\x6a\x82")])
    assert refusal_key(rig) == "refusal.card_unknown"
    assert hint_key(rig) == "hint.card_unknown"
    assert rig.central.calls == []


def test_a_card_of_another_issuer_fails_the_integrity_check(rig: CardRig, tmp_path: Path) -> None:
    forged = personalised_image(tmp_path / "forged.json", crypto.MasterKeys.generate(), CARD_NUMBER, card_type=3,
                                visits=99, made=CARD_TODAY, activated=CARD_TODAY)
    rig.kit.reader.insert(p.CARD_ATR, YearCardOS(forged))
    assert refusal_key(rig) == "refusal.card_mismatch"
    assert rig.central.calls == []


def test_an_unreadable_card_says_try_again(rig: CardRig) -> None:
    rig.kit.reader.insert_unreadable()
    assert refusal_key(rig) == "refusal.card_unreadable"
    assert hint_key(rig) == "hint.card_try_again"


def test_a_missing_psam_puts_the_card_service_out_of_order(tmp_path: Path) -> None:
    def no_psam(apdu: bytes) -> ApduResponse:
        raise NoCard("no PSAM in the second slot")

    rig = build_card_rig(tmp_path, psam_channel=no_psam)
    rig.kit.insert()
    assert refusal_key(rig) == "refusal.card_service_down"


def test_a_new_card_on_a_refusal_is_read_afresh(rig: CardRig) -> None:
    rig.kit.reader.insert_unreadable()
    assert rig.flow.state.step is Step.REFUSED
    rig.kit.insert()
    assert rig.flow.state.step is Step.CARD


# ---- offline --------------------------------------------------------------------------------


def test_offline_the_card_is_read_from_itself_and_redemption_is_refused(rig: CardRig) -> None:
    rig.central.fail["tap"] = CentralUnreachable("down")
    rig.kit.insert()
    state = rig.flow.state
    assert state.step is Step.CARD
    assert state.card is not None and state.card.offline
    assert state.card.visits_left == 10
    assert state.redeem_block == Message.of("card.offline_no_redemption")
    rig.flow.redeem()
    assert rig.flow.state.step is Step.CARD
    assert "showings" not in rig.central.calls


def test_offline_the_cached_blacklist_applies(rig: CardRig) -> None:
    rig.journal.set_card_blacklist(3, [CARD_NUMBER])
    rig.central.fail["tap"] = CentralUnreachable("down")
    rig.kit.insert()
    assert refusal_key(rig) == "refusal.card_blacklisted"


def test_offline_an_expired_card_is_refused_from_its_own_data(tmp_path: Path) -> None:
    rig = build_card_rig(tmp_path, activated=CARD_TODAY - timedelta(days=400), valid_days=365)
    rig.central.fail["tap"] = CentralUnreachable("down")
    rig.kit.insert()
    assert refusal_key(rig) == "refusal.card_expired"
    assert hint_key(rig) == "hint.card_renew_at_counter"
    assert dict(rig.flow.state.refusal.params)["expires_on"] < CARD_TODAY.isoformat()  # type: ignore[union-attr]


def test_offline_a_card_never_sold_is_refused_from_its_own_data(tmp_path: Path) -> None:
    rig = build_card_rig(tmp_path, activated=None)
    rig.central.fail["tap"] = CentralUnreachable("down")
    rig.kit.insert()
    assert refusal_key(rig) == "refusal.card_not_sold"


def test_redemption_refuses_when_the_central_goes_away_after_the_tap(rig: CardRig) -> None:
    rig.kit.insert()
    rig.central.fail["showings"] = CentralUnreachable("down")
    rig.flow.redeem()
    assert refusal_key(rig) == "refusal.offline"


# ---- choosing -------------------------------------------------------------------------------


def test_people_are_limited_by_the_type_and_the_visits_left(tmp_path: Path) -> None:
    rig = build_card_rig(tmp_path, visits=3)
    rig.central.type_limit = 4
    rig.kit.insert()
    rig.flow.redeem()
    rig.flow.choose_showing("show-1")
    assert rig.flow.state.max_people == 3
    rig.flow.set_people(99)
    assert rig.flow.state.people == 3
    rig.flow.set_people(0)
    assert rig.flow.state.people == 1


def test_a_surcharged_showing_counts_its_visits_per_person(tmp_path: Path) -> None:
    rig = build_card_rig(tmp_path, visits=3)
    rig.central.showings = [card_showing("imax", visits_per_person=2, film_format="IMAX")]
    rig.kit.insert()
    rig.flow.redeem()
    rig.flow.choose_showing("imax")
    assert rig.flow.state.max_people == 1
    assert rig.flow.state.visits_to_deduct == 2


def test_seats_toggle_up_to_the_party_and_best_available_fills_it(rig: CardRig) -> None:
    rig.kit.insert()
    rig.flow.redeem()
    rig.flow.choose_showing("show-1")
    rig.flow.set_people(2)
    rig.flow.choose_seats()
    rig.flow.toggle_seat("3", "1")
    rig.flow.toggle_seat("3", "2")
    rig.flow.toggle_seat("3", "3")  # the party is full
    assert rig.flow.state.selected == (("3", "1"), ("3", "2"))
    assert rig.flow.state.notice == Message.of("card.party_full", people=2)
    rig.flow.toggle_seat("3", "1")
    assert rig.flow.state.selected == (("3", "2"),)
    rig.flow.best_available()
    assert len(rig.flow.state.selected) == 2 and rig.flow.state.seats_together


def test_confirm_says_how_many_visits_and_needs_the_card_on_the_reader(rig: CardRig) -> None:
    to_confirm(rig, people=2)
    assert rig.flow.state.visits_to_deduct == 2
    rig.kit.reader.remove()
    assert not rig.flow.state.can_confirm
    assert rig.flow.state.notice == Message.of("card.put_card_back_to_confirm")
    rig.flow.confirm()
    assert rig.flow.state.step is Step.CONFIRM
    rig.kit.put_back()
    assert rig.flow.state.can_confirm


def test_back_walks_the_choices_back_to_the_card(rig: CardRig) -> None:
    to_confirm(rig)
    for step in (Step.SEATS, Step.PEOPLE, Step.SHOWINGS, Step.CARD):
        rig.flow.back()
        assert rig.flow.state.step is step
    rig.flow.back()
    assert rig.host.screen == "home"


def test_the_printer_is_checked_before_any_visit_is_deducted(rig: CardRig) -> None:
    rig.printer.status_now = PAPER_OUT
    to_confirm_without_assert(rig)
    assert rig.flow.state.printer_problem == Message.of("printer.paper_out")
    assert not rig.flow.state.can_confirm
    rig.flow.confirm()
    assert "hold" not in rig.central.calls


def to_confirm_without_assert(rig: CardRig) -> None:
    rig.kit.insert()
    rig.flow.redeem()
    rig.flow.choose_showing("show-1")
    rig.flow.set_people(2)
    rig.flow.choose_seats()
    rig.flow.best_available()
    rig.flow.seats_chosen()


# ---- the redemption ---------------------------------------------------------------------


def test_a_two_person_redemption_debits_two_visits_and_prints_two_tickets(rig: CardRig) -> None:
    to_confirm(rig, people=2)
    seats = rig.flow.state.selected
    rig.flow.confirm()
    state = rig.flow.state
    assert state.step is Step.DONE
    assert (state.printed, state.visits_used, state.tickets_owed, state.in_doubt) == (2, 2, 0, 0)
    assert rig.kit.balance() == 8
    assert rig.central.visits_recorded == 2
    assert [(t.row, t.seat) for t in rig.printer.printed] == list(seats)
    assert rig.printer.printed[0].film_title == "流浪地球"
    assert rig.printer.printed[0].cinema_name == "示范影城"
    assert rig.central.calls == ["tap", "showings", "seats", "hold", "debiting", "confirm"]
    rid = state.redemption_id
    assert rid is not None
    debit = rig.journal.card_debit(rid)
    assert debit is not None and debit.state is CardDebitState.CONFIRMED
    assert rig.journal.card_transactions(CARD_NUMBER)[0]["visits"] == 2
    # the card's wall clock is the cinema's local time, as announced and proven
    assert rig.central.notices[rid].at == CARD_LOCAL_NOW
    assert rig.central.proofs[rid].at == CARD_LOCAL_NOW
    assert rig.central.proofs[rid].kind is CardUseKind.TICKETS


def test_the_pending_debit_is_journaled_before_the_card_is_debited(rig: CardRig) -> None:
    to_confirm(rig, people=1)
    seen: list[str] = []
    announce = rig.central.announce_debit

    def watching(rid: str, *args: object, **kwargs: object) -> RedemptionView:
        debit = rig.journal.card_debit(rid)
        seen.append(debit.state.value if debit else "none")
        seen.append(str(rig.kit.card.state.balance))
        return announce(rid, *args, **kwargs)  # type: ignore[arg-type]

    rig.central.announce_debit = watching  # type: ignore[method-assign,assignment]
    rig.flow.confirm()
    assert seen == ["pending", "10"]
    assert rig.flow.state.step is Step.DONE


def test_seats_taken_meanwhile_go_back_to_the_map_with_the_others_kept(rig: CardRig) -> None:
    to_confirm(rig, people=2)
    first, second = rig.flow.state.selected
    rig.central._set_seats("show-1", {first}, SeatState.TAKEN)
    rig.flow.confirm()
    state = rig.flow.state
    assert state.step is Step.SEATS
    assert state.notice == Message.of("refusal.seats_taken")
    assert state.selected == (second,)
    assert rig.kit.balance() == 10


def test_paper_out_after_the_first_ticket_leaves_the_second_owed(rig: CardRig) -> None:
    rig.printer.paper_after = 1
    to_confirm(rig, people=2)
    rig.flow.confirm()
    state = rig.flow.state
    assert state.step is Step.DONE
    assert (state.printed, state.tickets_owed, state.visits_used) == (1, 1, 2)
    assert state.result_note == Message.of("printer.paper_out")


def test_an_announcement_that_fails_leaves_the_card_untouched(rig: CardRig) -> None:
    to_confirm(rig, people=2)
    rig.central.fail["debiting"] = CentralUnreachable("down")
    rig.flow.confirm()
    assert refusal_key(rig) == "refusal.offline"
    assert hint_key(rig) == "hint.card_no_visit_used"
    assert rig.kit.balance() == 10
    rid = rig.flow.state.redemption_id
    assert rid is not None and rig.journal.card_debit(rid).state is CardDebitState.NOT_DEBITED  # type: ignore[union-attr]
    assert rig.central.redemptions[rid].state is RedemptionState.CANCELLED


def test_a_confirmation_the_central_never_got_is_sent_later_and_the_tickets_are_owed(rig: CardRig) -> None:
    to_confirm(rig, people=2)
    rig.central.fail["confirm"] = CentralUnreachable("down")
    rig.flow.confirm()
    state = rig.flow.state
    assert state.step is Step.DONE
    assert (state.printed, state.tickets_owed, state.visits_used) == (0, 2, 2)
    assert state.result_note == Message.of("card.tickets_at_next_tap")
    assert rig.kit.balance() == 8
    rid = state.redemption_id
    assert rid is not None
    assert rig.journal.card_debit(rid).state is CardDebitState.PROVEN  # type: ignore[union-attr]
    del rig.central.fail["confirm"]
    assert flush_card_work(rig.journal, rig.central) == 1
    assert rig.central.visits_recorded == 2
    assert rig.journal.card_debit(rid).state is CardDebitState.CONFIRMED  # type: ignore[union-attr]
    assert flush_card_work(rig.journal, rig.central) == 0


def test_a_proof_the_central_cannot_verify_goes_to_staff(rig: CardRig) -> None:
    rig.central.tac_key = crypto.MasterKeys.generate().tac
    to_confirm(rig, people=1)
    rig.flow.confirm()
    assert refusal_key(rig) == "refusal.tac_invalid"
    assert rig.printer.printed == []
    rid = rig.flow.state.redemption_id
    assert rid is not None and rig.journal.card_debit(rid).state is CardDebitState.REFUSED  # type: ignore[union-attr]


def test_not_enough_visits_on_the_card_itself_uses_none(tmp_path: Path) -> None:
    rig = build_card_rig(tmp_path, visits=1)
    rig.central.type_limit = 4
    rig.kit.insert()
    rig.flow.redeem()
    rig.flow.choose_showing("show-1")
    assert rig.flow.state.max_people == 1


def test_owed_tickets_of_an_earlier_visit_are_offered_and_printed(rig: CardRig) -> None:
    rig.central.owed = [RedemptionView(redemption_id="red-old", card_number=CARD_NUMBER, kind=CardUseKind.TICKETS,
                                       state=RedemptionState.CONFIRMED, visits=2, showing_id="show-1",
                                       seats=[SeatRef(row="4", seat="4"), SeatRef(row="4", seat="5")])]
    rig.kit.insert()
    assert [o.redemption_id for o in rig.flow.state.owed] == ["red-old"]
    rig.flow.print_owed()
    state = rig.flow.state
    assert state.step is Step.DONE and state.printed == 2
    assert [(t.row, t.seat) for t in rig.printer.printed] == [("4", "4"), ("4", "5")]
    assert rig.kit.balance() == 10  # printing owed tickets never debits again


def test_owed_tickets_are_offered_even_on_a_card_now_recycled(rig: CardRig) -> None:
    rig.central.status = CardStatus.RECYCLED
    rig.central.owed = [RedemptionView(redemption_id="red-old", card_number=CARD_NUMBER, kind=CardUseKind.TICKETS,
                                       state=RedemptionState.CONFIRMED, visits=1, showing_id="show-1",
                                       seats=[SeatRef(row="4", seat="4")])]
    rig.kit.insert()
    assert rig.flow.state.step is Step.CARD
    assert rig.flow.state.redeem_block == Message.of("refusal.card_recycled")
    rig.flow.print_owed()
    assert rig.flow.state.printed == 1


def test_a_reconciled_redemption_is_settled_in_the_journal(rig: CardRig) -> None:
    rig.journal.card_debit_pending("red-x", {"card_number": CARD_NUMBER})
    rig.central.reconciled = ["red-x"]
    rig.kit.insert()
    assert rig.journal.card_debit("red-x").state is CardDebitState.RECONCILED  # type: ignore[union-attr]


# ---- a card pulled during the debit -----------------------------------------------------------


@pytest.mark.parametrize("executed", [False, True])
@pytest.mark.parametrize("at", range(DEBIT_CARD_APDUS))
def test_a_card_pulled_at_any_apdu_of_the_debit_leaves_card_ledger_and_tickets_agreeing(
        rig: CardRig, at: int, executed: bool) -> None:
    to_confirm(rig, people=2)
    rig.kit.reader.pull_at_command(at, executed=executed)
    rig.flow.confirm()
    if rig.flow.state.step is Step.PUT_CARD_BACK:
        assert rig.host.screen == "card.put_card_back"
        rig.kit.put_back()
    state = rig.flow.state
    debited = 10 - rig.kit.balance()
    assert debited in (0, 2)
    assert rig.central.visits_recorded == debited  # never a visit without the ledger knowing it
    assert len(rig.printer.printed) == debited  # never a visit without its ticket, nor a ticket without it
    rid = state.redemption_id
    assert rid is not None
    if debited:
        assert state.step is Step.DONE and state.printed == 2
        assert rig.central.redemptions[rid].state is RedemptionState.CONFIRMED
    else:
        assert state.step is Step.REFUSED
        assert hint_key(rig) == "hint.card_no_visit_used"
        assert rig.central.redemptions[rid].state is RedemptionState.CANCELLED  # seats released
        assert all(s.state is SeatState.FREE for s in rig.central.seat_maps["show-1"].seats)


def test_the_debit_torn_after_the_card_did_it_is_recovered_with_its_proof(rig: CardRig) -> None:
    to_confirm(rig, people=2)
    rig.kit.reader.pull_at_command(DEBIT_CARD_APDUS - 1, executed=True)
    rig.flow.confirm()
    assert rig.flow.state.step is Step.PUT_CARD_BACK
    assert not rig.flow.nav.cancel_enabled  # the person cannot walk away from it by a tap
    rid = rig.flow.state.redemption_id
    assert rid is not None and rig.journal.card_debit(rid).state is CardDebitState.PENDING  # type: ignore[union-attr]
    rig.kit.put_back()
    assert rig.flow.state.step is Step.DONE and rig.flow.state.printed == 2
    assert rig.journal.card_debit(rid).state is CardDebitState.CONFIRMED


def test_a_different_card_put_back_is_refused_and_the_right_one_completes(rig: CardRig, tmp_path: Path) -> None:
    to_confirm(rig, people=2)
    rig.kit.reader.pull_at_command(DEBIT_CARD_APDUS - 1, executed=True)
    rig.flow.confirm()
    other = rig.kit.insert_other(tmp_path)
    assert rig.flow.state.step is Step.PUT_CARD_BACK and rig.flow.state.wrong_card
    assert other.state.balance == 10
    rig.kit.reader.remove()
    rig.kit.put_back()
    assert rig.flow.state.step is Step.DONE
    assert rig.kit.balance() == 8 and rig.central.visits_recorded == 2


def test_a_card_pulled_again_during_recovery_is_asked_back_again(rig: CardRig) -> None:
    to_confirm(rig, people=1)
    rig.kit.reader.pull_at_command(DEBIT_CARD_APDUS - 1, executed=True)
    rig.flow.confirm()
    rig.kit.reader.pull_at_command(1)
    rig.kit.put_back()
    assert rig.flow.state.step is Step.PUT_CARD_BACK
    rig.kit.put_back()
    assert rig.flow.state.step is Step.DONE and rig.central.visits_recorded == 1


def test_a_card_never_put_back_goes_to_staff_and_the_central_settles_it_later(tmp_path: Path) -> None:
    rig = build_card_rig(tmp_path, settings=YearCardSection(put_back_timeout_s=120))
    to_confirm(rig, people=1)
    rig.kit.reader.pull_at_command(DEBIT_CARD_APDUS - 1, executed=True)
    rig.flow.confirm()
    rig.clock.advance(119)
    rig.host.tick()
    assert rig.flow.state.step is Step.PUT_CARD_BACK
    rig.clock.advance(2)
    rig.host.tick()
    assert refusal_key(rig) == "refusal.card_debit_unknown"
    rid = rig.flow.state.redemption_id
    assert rid is not None and rig.journal.card_debit(rid).state is CardDebitState.UNKNOWN  # type: ignore[union-attr]


def test_cancel_and_timeouts_never_abandon_a_debit_in_progress(rig: CardRig) -> None:
    to_confirm(rig, people=1)
    rig.kit.reader.pull_at_command(DEBIT_CARD_APDUS - 1, executed=True)
    rig.flow.confirm()
    rig.flow.cancel()
    rig.flow.reset()
    assert rig.flow.state.step is Step.PUT_CARD_BACK


def test_the_expiry_shown_is_the_cards_own(tmp_path: Path) -> None:
    rig = build_card_rig(tmp_path, valid_days=30)
    rig.kit.insert()
    assert rig.flow.state.card is not None
    assert rig.flow.state.card.expires_on is not None
    assert rig.flow.state.card.expires_on - CARD_TODAY <= timedelta(days=30)
    assert isinstance(rig.flow.state.card.expires_on, date)


def test_a_debit_interrupted_with_the_card_still_there_is_settled_at_once(rig: CardRig) -> None:
    """A mute moment (the card stayed): no "put your card back", the debit's proof is asked for at once."""
    to_confirm(rig, people=2)
    original = rig.kit.reader.transmit
    calls = {"n": 0}

    def mute_debit(apdu: bytes, timeout_s: float = 3.0) -> ApduResponse:
        if apdu[1] == p.INS_DEBIT and calls["n"] == 0:
            calls["n"] += 1
            original(apdu, timeout_s)  # the card did it; its answer is lost
            raise CardUnresponsive("no answer in time")
        return original(apdu, timeout_s)

    rig.kit.reader.transmit = mute_debit  # type: ignore[method-assign]
    rig.flow.confirm()
    assert rig.flow.state.step is Step.DONE and rig.flow.state.printed == 2
    assert rig.kit.balance() == 8 and rig.central.visits_recorded == 2


def test_a_card_back_before_the_kiosk_noticed_it_left_is_recovered(rig: CardRig) -> None:
    """The card was pulled and put back while the debit was still failing: it is asked at once."""
    to_confirm(rig, people=1)
    original = rig.kit.reader.transmit

    def pulled_and_back(apdu: bytes, timeout_s: float = 3.0) -> ApduResponse:
        if apdu[1] == p.INS_DEBIT:
            rig.kit.reader.transmit = original  # type: ignore[method-assign]
            original(apdu, timeout_s)
            rig.kit.reader.remove()
            rig.kit.put_back()  # INSERTED reaches the flow while it is still debiting
            raise CardRemoved("the card left during the command")
        return original(apdu, timeout_s)

    rig.kit.reader.transmit = pulled_and_back  # type: ignore[method-assign]
    rig.flow.confirm()
    assert rig.flow.state.step is Step.DONE and rig.flow.state.printed == 1
    assert rig.kit.balance() == 9 and rig.central.visits_recorded == 1


def test_tickets_the_central_stops_from_printing_are_owed_at_the_next_tap(rig: CardRig) -> None:
    to_confirm(rig, people=2)
    rig.central.refuse_with = CentralRefused(ErrorCode.CLAIM_NOT_FOUND, "the claim's lease ran out")
    rig.flow.confirm()
    state = rig.flow.state
    assert state.step is Step.DONE
    assert (state.printed, state.tickets_owed, state.visits_used) == (0, 2, 2)
    assert state.result_note == Message.of("card.tickets_at_next_tap")
    assert rig.printer.printed == []
