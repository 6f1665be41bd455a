"""Every hand-written session under tests/scenarios replays on the real app and ends as its `# expect:` says."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from kiosk.config import KioskConfig, load_config
from kiosk.recording.replay import ReplayOptions, ReplayResult, load_for_replay, replay

SCENARIOS = sorted(Path(__file__).parent.glob("*.jsonl"))
EXPECT_PREFIX = "# expect:"


def expectation(path: Path) -> dict[str, Any]:
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith(EXPECT_PREFIX):
            return dict(json.loads(line[len(EXPECT_PREFIX):]))
    raise AssertionError(f"{path.name} has no '{EXPECT_PREFIX}' line")


def bench_config(tmp_path: Path) -> KioskConfig:
    return load_config(None, {"recording.key_file": str(tmp_path / "recording.key")})


def replay_file(path: Path, config: KioskConfig, out: Path) -> ReplayResult:
    session = load_for_replay(path, config, None, force=False)
    return replay(session, config, ReplayOptions(out_dir=out, speed=math.inf, screenshots=False))


@pytest.mark.ui
@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_scenario_replays_as_written(path: Path, tmp_path: Path) -> None:
    expect = expectation(path)
    result = replay_file(path, bench_config(tmp_path), tmp_path / "out")
    assert result.match, result.difference.describe() if result.difference else result.notes
    shown = [name for index, name in enumerate(result.screens) if index == 0 or name != result.screens[index - 1]]
    expected = [name for index, name in enumerate(expect["screens"])
                if index == 0 or name != expect["screens"][index - 1]]
    assert shown == expected
    assert len(result.tickets) == expect["tickets"]
    for ticket in result.tickets:
        assert Path(ticket).is_file()


def test_there_is_a_scenario_for_every_journey_and_fault() -> None:
    names = {p.stem for p in SCENARIOS}
    assert {"code_pickup", "qr_pickup", "partial_pickup", "paper_out_after_2_of_4", "cover_open_before_confirm",
            "printer_offline", "central_down_60s", "central_5xx", "central_malformed", "qr_foreign_code",
            "qr_entrance_ticket"} <= names
    assert sum(name.startswith("refusal_") for name in names) >= 8
