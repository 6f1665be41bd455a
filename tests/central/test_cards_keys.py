"""The card issuer's master keys: made only by init-secrets, never replaced, never shown."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from central.card_keys import ISSUER_KEYS_FILE, IssuerKeysError, load_issuer_keys
from central.config import Settings
from central.secret_store import SecretsError, init_secrets
from central.service import Central


def _settings(tmp_path: Path) -> Settings:
    return Settings(db_url=f"sqlite:///{tmp_path / 'c.db'}", secrets_dir=tmp_path / "secrets")


def test_init_secrets_makes_the_issuer_keys_once_private_and_keeps_them(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    first = init_secrets(settings, datetime.now(UTC))
    assert first.issuer_keys == "created" and first.as_json()["issuer_keys"] == "created"
    path = tmp_path / "secrets" / ISSUER_KEYS_FILE
    assert path.stat().st_mode & 0o777 == 0o600
    keys = load_issuer_keys(settings)
    text_before = path.read_text()
    second = init_secrets(settings, datetime.now(UTC))
    assert second.issuer_keys == "kept"
    assert path.read_text() == text_before  # cards made with them stay verifiable
    assert load_issuer_keys(settings).tac == keys.tac
    # Five distinct masters, none of them shown by a repr (a log line or a config dump).
    assert len({keys.purchase, keys.tac, keys.public, keys.maintenance, keys.load}) == 5
    central = Central.open(settings)
    for key in (keys.purchase, keys.tac, keys.public, keys.maintenance, keys.load):
        assert key.hex() not in repr(central) and key.hex() not in repr(keys)


def test_missing_issuer_keys_stop_the_central_with_one_line(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    init_secrets(settings, datetime.now(UTC))
    (tmp_path / "secrets" / ISSUER_KEYS_FILE).unlink()
    with pytest.raises(SecretsError) as caught:  # what the CLI prints as one line
        Central.open(settings)
    message = str(caught.value)
    assert "\n" not in message and ISSUER_KEYS_FILE in message and "init-secrets" in message


@pytest.mark.parametrize("content, fault", [
    ("not json", "not JSON"),
    ("[1, 2]", "expected an object"),
    (json.dumps({"purchase": "00" * 16}), "'tac'"),
    (json.dumps({name: "zz" * 16 for name in ("purchase", "tac", "public", "maintenance", "load")}), "'purchase'"),
    (json.dumps({name: "00" * 8 for name in ("purchase", "tac", "public", "maintenance", "load")}), "32 hex digits"),
])
def test_a_malformed_issuer_keys_file_is_named_without_its_content(tmp_path: Path, content: str, fault: str) -> None:
    settings = _settings(tmp_path)
    init_secrets(settings, datetime.now(UTC))
    (tmp_path / "secrets" / ISSUER_KEYS_FILE).write_text(content)
    with pytest.raises(IssuerKeysError) as caught:
        load_issuer_keys(settings)
    assert fault in str(caught.value) and "\n" not in str(caught.value)
    assert "zz" * 16 not in str(caught.value)


def test_a_command_without_the_issuer_keys_stops_with_one_line_on_stderr(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    settings = _settings(tmp_path)
    init_secrets(settings, datetime.now(UTC))
    (tmp_path / "secrets" / ISSUER_KEYS_FILE).unlink()
    env = {**os.environ, "CENTRAL_SECRETS_DIR": str(tmp_path / "secrets")}
    done = subprocess.run([sys.executable, "-m", "central", "migrate", "--db", settings.db_url], env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and ISSUER_KEYS_FILE in lines[0] and "Traceback" not in done.stderr
