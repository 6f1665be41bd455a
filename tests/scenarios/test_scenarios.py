"""Every hand-written session under tests/scenarios replays on the real app and ends as its `# expect:` says.

The `# expect:` line names the screens in order (repeats folded) and the tickets printed; optional keys:
``scan_unavailable_shown`` (the idle screen said QR scanning is unavailable at some point; default false),
``in_service_at_end`` (default true), ``card_answers`` (what the card layer got back for each APDU),
``screen_at`` (screen -> the virtual clock's seconds when it was first shown: waits that pass on that clock).

A scenario with ``card_answers`` has no journey on the card: the bench sends its APDUs.  The year-card
scenarios (card_*.jsonl, recorded on real parts by record_card_scenarios.py) have the journey send
every APDU to the card and the PSAM, answered as recorded; their replay must ask for every answer.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from devices.card_api import CardError
from kiosk.config import KioskConfig, load_config
from kiosk.recording.replay import ReplayOptions, ReplayResult, load_for_replay, replay, screen_name
from kiosk.recording.session import Event

SCENARIOS = sorted(Path(__file__).parent.glob("*.jsonl"))
EXPECT_PREFIX = "# expect:"
SCAN_UNAVAILABLE = "idle.scan_unavailable"


def expectation(path: Path) -> dict[str, Any]:
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith(EXPECT_PREFIX):
            return dict(json.loads(line[len(EXPECT_PREFIX):]))
    raise AssertionError(f"{path.name} has no '{EXPECT_PREFIX}' line")


def bench_config(tmp_path: Path) -> KioskConfig:
    return load_config(None, {"recording.key_file": str(tmp_path / "recording.key")})


@dataclass
class Bench:
    """What a person at the kiosk saw besides the screens, and the card layer no journey plays."""

    sends_apdus: bool = True  # False: the year-card journey sends them itself
    scan_unavailable_shown: bool = False
    in_service: bool = True
    card_answers: list[str] = field(default_factory=list)
    screen_at: dict[str, float] = field(default_factory=dict)

    def after_event(self, event: Event, runtime: Any) -> None:
        # the card layer sends what the session holds; the reader answers as recorded
        if event.kind == "apdu" and self.sends_apdus:
            try:
                answer = runtime.services.card_reader.transmit(bytes.fromhex(event.data["command"]))
                self.card_answers.append((answer.data + bytes((answer.sw1, answer.sw2))).hex())
            except CardError as exc:
                self.card_answers.append(type(exc).__name__)
        app = runtime.app
        root = app.kiosk_root
        if root is not None and root.ids.screens.current == "home":
            status = root.ids.screens.get_screen("home").ids.status.text
            if status and status == app.translator.text(SCAN_UNAVAILABLE):
                self.scan_unavailable_shown = True
        self.in_service = runtime.services.availability().can_pick_up
        if app.shown is not None:
            self.screen_at.setdefault(app.shown[0], round(runtime.services.clock.elapsed, 3))


def replay_file(path: Path, config: KioskConfig, out: Path, bench: Bench | None = None) -> ReplayResult:
    session = load_for_replay(path, config, None, force=False)
    return replay(session, config, ReplayOptions(out_dir=out, speed=math.inf, screenshots=False,
                                                 after_event=bench.after_event if bench else None))


def folded(names: list[str]) -> list[str]:
    return [name for index, name in enumerate(names) if index == 0 or name != names[index - 1]]


@pytest.mark.ui
@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_scenario_replays_as_written(path: Path, tmp_path: Path) -> None:
    expect = expectation(path)
    bench = Bench(sends_apdus="card_answers" in expect)
    result = replay_file(path, bench_config(tmp_path), tmp_path / "out", bench)
    assert result.match, result.difference.describe() if result.difference else result.notes
    assert not [note for note in result.notes if "cannot be replayed" in note or "unknown" in note], result.notes
    if not bench.sends_apdus:  # the journey asked the card and the PSAM exactly what was recorded, nothing else
        assert not [note for note in result.notes if "APDU" in note or "answer(s)" in note], result.notes
    # The scenarios name screens as they were recorded ("review"); the app names them per journey.
    assert folded(result.screens) == folded([screen_name(name) for name in expect["screens"]])
    assert len(result.tickets) == expect["tickets"]
    for ticket in result.tickets:
        assert Path(ticket).is_file()
    assert bench.scan_unavailable_shown == expect.get("scan_unavailable_shown", False)
    assert bench.in_service == expect.get("in_service_at_end", True)
    if "card_answers" in expect:
        assert bench.card_answers == expect["card_answers"]
    for screen, seconds in expect.get("screen_at", {}).items():
        assert bench.screen_at.get(screen_name(screen)) == pytest.approx(seconds), bench.screen_at


@pytest.mark.ui
def test_a_replayed_fault_session_replays_identically(tmp_path: Path) -> None:
    """The replay's own session of a fault scenario (health changes, card errors) replays to the same end."""
    config = bench_config(tmp_path)
    path = Path(__file__).parent / "card_faults.jsonl"
    first = replay_file(path, config, tmp_path / "first", Bench())
    assert first.match
    again = Bench()
    session = load_for_replay(first.session_out, config, tmp_path / "recording.key", force=False)
    second = replay(session, config, ReplayOptions(out_dir=tmp_path / "second", speed=math.inf, screenshots=False,
                                                   key_path=tmp_path / "recording.key",
                                                   after_event=again.after_event))
    assert second.match, second.difference.describe() if second.difference else second.notes
    assert [e.data for e in session.of_kind("health")] == \
        [e.data for e in load_for_replay(second.session_out, config, tmp_path / "recording.key", False)
         .of_kind("health")]
    assert again.card_answers == expectation(path)["card_answers"]


def test_there_is_a_scenario_for_every_journey_and_fault() -> None:
    names = {p.stem for p in SCENARIOS}
    assert {"code_pickup", "qr_pickup", "partial_pickup", "paper_out_after_2_of_4", "cover_open_before_confirm",
            "printer_offline", "central_down_60s", "central_5xx", "central_malformed", "qr_foreign_code",
            "qr_entrance_ticket", "camera_unplugged_code_pickup_works", "camera_black_frames_and_glare",
            "card_faults", "pcscd_restarted", "central_slow_within_timeout", "central_slow_past_timeout_on_claim",
            "printer_slow_ticket_in_doubt", "card_redemption_two_tickets", "card_torn_debit_recovered"} <= names
    assert sum(name.startswith("refusal_") for name in names) >= 8


CARD_REFUSALS = {"card_blacklisted", "card_expired", "card_not_sold", "card_recycled", "card_unknown",
                 "card_mismatch", "card_unreadable"}  # card_mismatch: the integrity check failed (a copy)


def _events(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.startswith("#")][1:]


def test_every_card_refusal_a_redemption_and_a_torn_debit_have_a_recorded_card_scenario() -> None:
    """Each refusal the kiosk shows for a card, as the recorded session shows it (the replay must show the same)."""
    by_name = {p.stem: _events(p) for p in SCENARIOS if p.stem.startswith("card_") and p.stem != "card_faults"}
    refusals = {str(e["detail"]["refusal"]).removeprefix("refusal.") for events in by_name.values() for e in events
                if e["kind"] == "screen" and e["screen"] == "card.refused"}
    assert refusals == CARD_REFUSALS
    for events in by_name.values():  # every APDU to the card and to the PSAM is in the session, no key in clear
        slots = {e.get("slot", "card") for e in events if e["kind"] == "apdu"}
        assert slots and not any(e.get("redacted") for e in events if e["kind"] == "apdu")
    redemption = by_name["card_redemption_two_tickets"]
    assert {e.get("slot") for e in redemption if e["kind"] == "apdu"} == {None, "psam"}
    assert sum(e["kind"] == "printer" and e.get("op") == "job" for e in redemption) == 2
    torn = by_name["card_torn_debit_recovered"]
    pulled = [e for e in torn if e["kind"] == "apdu" and e["command"].startswith("8054")]  # DEBIT FOR PURCHASE
    assert pulled and pulled[0]["error"].startswith("CardRemoved")
    assert any(e["kind"] == "apdu" and e["command"].startswith("805a") for e in torn)  # GET TRANSACTION PROVE
    screens = [e["screen"] for e in torn if e["kind"] == "screen"]
    assert "card.put_card_back" in screens and screens.index("card.put_card_back") < screens.index("card.done")
    assert sum(e["kind"] == "printer" and e.get("op") == "job" for e in torn) == 2
