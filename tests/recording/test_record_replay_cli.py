"""`kiosk record --demo`, then `kiosk replay` as a technician runs them (subprocesses, offscreen)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kiosk.recording.session import Event, SessionWriter, load_key, read_session
from tests.shared_data import REPO_ROOT

TIMEOUT_S = 240


def kiosk(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "kiosk.toml"
    if not config.exists():
        config.write_text(f'[recording]\nkey_file = "{tmp_path / "recording.key"}"\n')
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "SDL_VIDEODRIVER": "offscreen", "KIVY_NO_ARGS": "1",
           "KIVY_NO_FILELOG": "1", "KIVY_HOME": str(tmp_path / "kivy-home")}
    command = [sys.executable, "-m", "kiosk", args[0], "--config", str(config), *args[1:]]
    return subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=TIMEOUT_S)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    tmp_path = tmp_path_factory.mktemp("record")
    done = kiosk(tmp_path, "record", "--demo", "--out", str(tmp_path / "session"))
    assert done.returncode == 0, done.stderr[-3000:]
    return tmp_path, tmp_path / "session"


@pytest.mark.ui
@pytest.mark.slow
def test_demo_session_replays_and_so_does_the_replay_of_it(recorded: tuple[Path, Path]) -> None:
    tmp_path, session_dir = recorded
    key = load_key(tmp_path / "recording.key")
    session = read_session(session_dir, key)
    kinds = {event.kind for event in session.events}
    assert {"tap", "qr", "central", "printer", "screen", "timer", "deliver"} <= kinds
    assert session.header.devices["printer"]["kind"] == "network"

    first = kiosk(tmp_path, "replay", str(session_dir), "--headless", "--out", str(tmp_path / "replay1"))
    assert first.returncode == 0, first.stdout + first.stderr[-3000:]
    assert "MATCH" in first.stdout
    summary = json.loads((tmp_path / "replay1" / "summary.json").read_text(encoding="utf-8"))
    assert summary["match"] and summary["screens"].count("pickup.done") == 2
    assert len(summary["tickets"]) == 6 and all(Path(p).is_file() for p in summary["tickets"])

    again = kiosk(tmp_path, "replay", str(tmp_path / "replay1" / "session"), "--headless",
                  "--out", str(tmp_path / "replay2"))
    assert again.returncode == 0, again.stdout + again.stderr[-3000:]
    replayed = read_session(tmp_path / "replay1" / "session", key)
    assert [e.data for e in replayed.events if e.kind == "screen"] == \
        [e.data for e in session.events if e.kind == "screen"]


@pytest.mark.ui
@pytest.mark.slow
def test_a_replay_that_differs_names_the_first_difference(recorded: tuple[Path, Path]) -> None:
    tmp_path, session_dir = recorded
    key = load_key(tmp_path / "recording.key")
    session = read_session(session_dir, key)
    # As if the recorded kiosk had printed one ticket fewer on the first order.
    first_done = next(e for e in session.events if e.kind == "screen" and e.data.get("screen") == "pickup.done")
    changed = [Event(e.t, e.kind, {**e.data, "detail": {**e.data["detail"], "printed": 3}}) if e is first_done else e
               for e in session.events]
    writer = SessionWriter(tmp_path / "changed", key, session.header, 1 << 20)
    for event in changed:
        writer.write(event)
    writer.close()
    done = kiosk(tmp_path, "replay", str(tmp_path / "changed"), "--headless", "--out", str(tmp_path / "replay3"))
    assert done.returncode == 1
    assert "first difference in screens" in done.stdout
    assert '"printed": 3' in done.stdout and '"printed": 4' in done.stdout


@pytest.mark.ui
@pytest.mark.slow
def test_replay_refuses_another_configuration_unless_forced(recorded: tuple[Path, Path]) -> None:
    tmp_path, session_dir = recorded
    other = tmp_path / "other"
    other.mkdir(exist_ok=True)
    (other / "kiosk.toml").write_text(f'[recording]\nkey_file = "{tmp_path / "recording.key"}"\n'
                                      "[pickup]\nidle_timeout_s = 90\n")
    refused = kiosk(other, "replay", str(session_dir), "--headless", "--out", str(other / "out"))
    assert refused.returncode == 3
    assert "configuration" in refused.stderr and "--force" in refused.stderr
    forced = kiosk(other, "replay", str(session_dir), "--headless", "--force", "--out", str(other / "out"))
    assert forced.returncode == 0, forced.stdout + forced.stderr[-2000:]
