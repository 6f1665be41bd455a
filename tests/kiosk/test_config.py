"""Configuration: defaults, the documented default file, and errors that name file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from kiosk.config import ConfigError, KioskConfig, load_config
from tests.shared_data import REPO_ROOT


def test_built_in_defaults_need_no_file() -> None:
    config = load_config(None)
    assert config.kiosk.language == "zh_CN"
    assert config.printer.simulate is False  # production: real devices (tests/production/test_simulators.py)


def test_documented_default_file_equals_the_built_in_defaults() -> None:
    assert load_config(REPO_ROOT / "config" / "default.toml") == KioskConfig()


def test_missing_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError) as caught:
        load_config(missing)
    assert str(missing) in str(caught.value) and "not found" in str(caught.value)


@pytest.mark.parametrize(
    "text, key",
    [
        ("[printer]\nport = 'ninety'\n", "printer.port"),
        ("[printer]\nkind = 'bluetooth'\n", "printer.kind"),
        ("[pickup]\nidle_timeout_s = -1\n", "pickup.idle_timeout_s"),
        ("[kiosk]\nlanguage = 'fr'\n", "kiosk.language"),
        ("[kiosk]\ncolour = 'red'\n", "kiosk.colour"),
        ("[scanner]\nfps = 3\n", "scanner"),
        ("kiosk = 3\n", "kiosk"),
        ("[camera]\nloop = 'yes'\n", "camera.loop"),
    ],
)
def test_invalid_values_name_the_file_and_the_key(tmp_path: Path, text: str, key: str) -> None:
    path = tmp_path / "kiosk.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.key == key
    assert str(path) in str(caught.value)


def test_broken_toml_is_reported_with_the_file(tmp_path: Path) -> None:
    path = tmp_path / "kiosk.toml"
    path.write_text("[printer\nport = 1")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(path)


def test_integers_are_accepted_for_numbers_and_overrides_apply(tmp_path: Path) -> None:
    path = tmp_path / "kiosk.toml"
    path.write_text("[pickup]\nidle_timeout_s = 90\n")
    config = load_config(path, {"printer.port": 9101})
    assert config.pickup.idle_timeout_s == 90.0
    assert config.printer.port == 9101
