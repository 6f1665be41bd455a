"""Collecting tickets by pickup code: the real kiosk, the real central, the virtual printer on TCP."""

from __future__ import annotations

from collections import Counter

from backend_client.tokens import KIND_TICKET
from devices.printer_api import PaperLevel
from devices.sim.printer import Fault
from kiosk.flows.pickup import Step
from tests.central.kiosk_api import new_order
from tests.integration.conftest import StartKiosk
from tests.integration.kiosk_rig import (
    central_ticket_states,
    message_key,
    printed_ticket_ids,
    read_journal,
    ticket_token,
)
from tests.support.central_server import RunningCentral

# The demo kiosk is "Lobby-01-03": a person is told where their tickets went, not the machine's full name.
DEMO_KIOSK_MASKED = "Lobby-**-03"


def test_code_pickup_prints_each_ticket_once_with_its_entrance_qr(
    module_central: RunningCentral, start_kiosk: StartKiosk
) -> None:
    central = module_central
    order = central.demo["orders"]["group"]
    kiosk = start_kiosk(central)

    kiosk.look_up(order)
    review = kiosk.flow.state
    assert review.step is Step.REVIEW
    assert [f"{line.row}{line.seat}" for line in review.lines] == order["seats"]
    assert all(line.collectable and line.selected for line in review.lines)
    assert review.can_confirm

    kiosk.flow.confirm()
    done = kiosk.flow.state
    assert (done.step, done.printed, done.owed, done.in_doubt, done.result_note) == (Step.DONE, 4, 0, 0, None)
    jobs = kiosk.printer.wait_for_jobs(4)
    assert len(jobs) == 4 and all(job.completed for job in jobs)

    journal = read_journal(kiosk.journal_path)
    assert journal is not None
    issued = {row.ticket_id: row.entrance_token for row in journal}
    seats = {line.ticket_id: (line.row, line.seat) for line in review.lines}
    film_title = central.demo["showings"]["later_today"]["film_title"]
    for job in jobs:
        token = ticket_token(job)
        claims = kiosk.services.trust.verify(token)  # signed by the central's key
        assert claims.kind == KIND_TICKET and claims.ticket_id is not None
        assert token == issued[claims.ticket_id]
        row, seat = seats[claims.ticket_id]
        assert film_title in job.texts and f"{row}排 {seat}座" in job.texts, job.texts
    assert sorted(printed_ticket_ids(jobs)) == sorted(order["ticket_ids"])

    assert set(central_ticket_states(central, order["order_id"]).values()) == {"printed"}
    kiosk.look_up(order)
    again = kiosk.flow.state
    assert (again.step, message_key(again.refusal)) == (Step.REFUSED, "refusal.already_collected")
    assert again.refusal is not None and again.refusal.param_dict()["kiosk"] == DEMO_KIOSK_MASKED
    assert message_key(again.refusal_hint) == "hint.see_staff"
    assert kiosk.services.journal.open_claim_ids() == []
    assert kiosk.services.outbox.pending_count() == 0
    assert len(kiosk.printer.jobs) == 4


def test_paper_out_after_two_of_four_owes_the_rest_and_prints_them_next_time(
    module_central: RunningCentral, start_kiosk: StartKiosk
) -> None:
    central = module_central
    order = new_order(central, seat_count=4)
    kiosk = start_kiosk(central)
    kiosk.printer.fail_after_cuts(2, Fault.PAPER_OUT)

    kiosk.pick_up(order)
    done = kiosk.flow.state
    assert (done.printed, done.owed, done.in_doubt) == (2, 2, 0)
    assert message_key(done.result_note) == "printer.paper_out"
    first_visit = printed_ticket_ids(kiosk.printer.wait_for_jobs(2))
    assert len(kiosk.printer.jobs) == 2 and len(set(first_visit)) == 2
    states = central_ticket_states(central, order["order_id"])
    assert Counter(states.values()) == {"printed": 2, "available": 2}
    assert {ticket for ticket, status in states.items() if status == "printed"} == set(first_visit)
    remaining = {ticket for ticket, status in states.items() if status == "available"}

    kiosk.printer.set_paper(PaperLevel.OK)
    kiosk.look_up(order)
    review = kiosk.flow.state
    assert review.step is Step.REVIEW
    assert {line.ticket_id for line in review.lines if line.collectable} == remaining
    assert set(review.selected_ids) == remaining and review.can_confirm
    kiosk.flow.confirm()
    assert (kiosk.flow.state.step, kiosk.flow.state.printed, kiosk.flow.state.owed) == (Step.DONE, 2, 0)

    jobs = kiosk.printer.wait_for_jobs(4)
    assert len(jobs) == 4 and all(job.completed for job in jobs)
    assert sorted(printed_ticket_ids(jobs)) == sorted(order["ticket_ids"])  # each ticket exactly once
    assert len({ticket_token(job) for job in jobs}) == 4
    assert set(central_ticket_states(central, order["order_id"]).values()) == {"printed"}


def test_partial_pickup_leaves_the_rest_collectable_for_later(
    sqlite_central: RunningCentral, start_kiosk: StartKiosk
) -> None:
    order = new_order(sqlite_central, seat_count=2)
    taken, left = order["ticket_ids"]
    kiosk = start_kiosk(sqlite_central)

    kiosk.look_up(order)
    kiosk.flow.toggle_ticket(left)
    assert kiosk.flow.state.selected_ids == [taken]
    kiosk.flow.confirm()
    assert (kiosk.flow.state.step, kiosk.flow.state.printed, kiosk.flow.state.owed) == (Step.DONE, 1, 1)
    assert central_ticket_states(sqlite_central, order["order_id"]) == {taken: "printed", left: "available"}

    kiosk.flow.reset()  # the person walks away; they come back later for the other ticket
    kiosk.look_up(order)
    review = kiosk.flow.state
    assert [line.ticket_id for line in review.lines if line.collectable] == [left]
    kiosk.flow.confirm()
    assert (kiosk.flow.state.printed, kiosk.flow.state.owed) == (1, 0)
    assert printed_ticket_ids(kiosk.printer.wait_for_jobs(2)) == [taken, left]
    assert central_ticket_states(sqlite_central, order["order_id"]) == {taken: "printed", left: "printed"}
