"""The `kiosk` command refuses bad configuration with one line naming the file and the key."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from central.process import free_port
from tests.shared_data import REPO_ROOT


def run_kiosk(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "SDL_VIDEODRIVER": "offscreen", "KIVY_NO_ARGS": "1",
           "KIVY_HOME": str(cwd / "kivy-home")}
    return subprocess.run([sys.executable, "-m", "kiosk", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)


def test_missing_config_file_is_named(tmp_path: Path) -> None:
    done = run_kiosk("run", "--config", "absent.toml", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == "kiosk: absent.toml: file not found"
    assert "Traceback" not in done.stderr


def test_invalid_key_is_named(tmp_path: Path) -> None:
    (tmp_path / "kiosk.toml").write_text("[printer]\nport = 'ninety'\n")
    done = run_kiosk("run", "--config", "kiosk.toml", cwd=tmp_path)
    assert done.returncode == 2
    assert "kiosk.toml: printer.port: expected an integer, got str" in done.stderr
    assert "Traceback" not in done.stderr


def test_missing_credential_says_how_to_enrol(tmp_path: Path) -> None:
    (tmp_path / "kiosk.toml").write_text(
        f"[central]\ncredential_file = 'nowhere/kiosk.credential'\n[printer]\nport = {free_port()}\n"
    )
    done = run_kiosk("run", "--config", "kiosk.toml", cwd=tmp_path)
    assert done.returncode == 2
    assert "nowhere/kiosk.credential: the kiosk credential file is missing" in done.stderr
    assert "central kiosk enrol" in done.stderr
    assert "Traceback" not in done.stderr
