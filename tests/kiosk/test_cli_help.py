"""Every option and command of `kiosk` says what it does in `--help`."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.shared_data import REPO_ROOT
from tests.support.cli_help import entries_without_help


@pytest.mark.parametrize("command", [(), ("run",), ("demo",), ("devices",), ("record",), ("replay",)])
def test_every_option_of_the_kiosk_command_has_help(command: tuple[str, ...]) -> None:
    done = subprocess.run([sys.executable, "-m", "kiosk", *command, "--help"], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "PYTHONPATH": str(REPO_ROOT), "COLUMNS": "200"})
    assert done.returncode == 0, done.stderr
    assert entries_without_help(done.stdout) == [], f"kiosk {' '.join(command)}"
