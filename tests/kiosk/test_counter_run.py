"""`kiosk run` in counter mode: a counter without its card reader and PSAM stops at start, in one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from central.process import free_port
from kiosk.config import ConfigError, load_config
from tests.kiosk.test_cli import run_kiosk


def test_a_counter_without_card_reader_or_psam_says_what_it_needs(tmp_path: Path) -> None:
    (tmp_path / "kiosk.credential").write_text("kiosk-1.not-a-real-secret\n")
    (tmp_path / "kiosk.toml").write_text(
        "[kiosk]\nmode = 'counter'\n"
        "[central]\ncredential_file = 'kiosk.credential'\n"
        f"[printer]\nport = {free_port()}\n[camera]\nsource = ''\n[card]\nreader = ''\n"
    )
    done = run_kiosk("run", "--config", "kiosk.toml", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith('kiosk: kiosk.mode = "counter" needs a card reader')
    assert "Traceback" not in done.stderr


def test_the_mode_is_lobby_or_counter() -> None:
    assert load_config().kiosk.mode == "lobby"
    assert load_config(overrides={"kiosk.mode": "counter"}).kiosk.mode == "counter"
    with pytest.raises(ConfigError, match=r"kiosk\.mode"):
        load_config(overrides={"kiosk.mode": "box-office"})
