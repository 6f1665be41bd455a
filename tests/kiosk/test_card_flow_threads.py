"""The year-card journey with its slow work on a real worker thread, as in the app: results reach
the flow through the main loop (here a queue the test drains), card events come from the reader."""

from __future__ import annotations

import queue
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from kiosk.flows.card import Step
from kiosk.flows.runtime import ThreadWorker
from tests.support.fakes import CardRig, build_card_rig

WAIT_S = 10.0


class MainLoop:
    def __init__(self) -> None:
        self.calls: queue.Queue[Callable[[], None]] = queue.Queue()

    def post(self, callback: Callable[[], None]) -> None:
        self.calls.put(callback)

    def run_until(self, condition: Callable[[], bool]) -> None:
        deadline = time.monotonic() + WAIT_S
        while not condition():
            try:
                self.calls.get(timeout=max(0.01, deadline - time.monotonic()))()
            except queue.Empty:
                pytest.fail("the flow never got there")


class Threaded:
    def __init__(self, tmp_path: Path) -> None:
        self.loop = MainLoop()
        self.worker = ThreadWorker(self.loop.post, name="card-test-worker")
        self.rig = build_card_rig(tmp_path, worker=self.worker)


@pytest.fixture
def threaded(tmp_path: Path) -> Iterator[Threaded]:
    kit = Threaded(tmp_path)
    yield kit
    kit.worker.stop()


def choose(rig: CardRig, loop: MainLoop, people: int) -> None:
    flow = rig.flow
    rig.kit.insert()
    loop.run_until(lambda: flow.state.step is Step.CARD)
    flow.redeem()
    loop.run_until(lambda: bool(flow.state.showings))
    flow.choose_showing("show-1")
    flow.set_people(people)
    flow.choose_seats()
    loop.run_until(lambda: flow.state.seat_map is not None)
    flow.best_available()
    flow.seats_chosen()
    loop.run_until(lambda: flow.state.can_confirm)


def test_a_redemption_with_a_worker_thread(threaded: Threaded) -> None:
    rig, loop = threaded.rig, threaded.loop
    choose(rig, loop, people=2)
    rig.flow.confirm()
    loop.run_until(lambda: rig.flow.state.step is Step.DONE)
    assert rig.flow.state.printed == 2 and rig.kit.balance() == 8 and rig.central.visits_recorded == 2


def test_a_torn_debit_with_a_worker_thread(threaded: Threaded) -> None:
    rig, loop = threaded.rig, threaded.loop
    choose(rig, loop, people=2)
    rig.kit.reader.pull_at_command(4, executed=True)  # the DEBIT: done on the card, its answer lost
    rig.flow.confirm()
    loop.run_until(lambda: rig.flow.state.step is Step.PUT_CARD_BACK)
    rig.kit.put_back()
    loop.run_until(lambda: rig.flow.state.step is Step.DONE)
    assert rig.flow.state.printed == 2 and rig.kit.balance() == 8 and rig.central.visits_recorded == 2


def test_a_card_removed_while_read_by_the_worker_goes_home(threaded: Threaded) -> None:
    rig, loop = threaded.rig, threaded.loop
    rig.kit.reader.stall_next(2.0)  # the first command waits; the card leaves meanwhile
    rig.kit.insert()
    rig.kit.reader.remove()
    loop.run_until(lambda: rig.flow.state.step is Step.IDLE)
    threaded.worker.stop()  # the reading ends (the card left): its late failure is posted, then dropped
    assert not loop.calls.empty()
    while not loop.calls.empty():
        loop.calls.get()()
    assert rig.flow.state.step is Step.IDLE and rig.flow.state.refusal is None
