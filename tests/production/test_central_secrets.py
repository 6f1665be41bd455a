"""The central's secrets come from one explicit place; a missing key stops it with one line.

Before, a central run without CENTRAL_SECRETS_DIR made a new pickup-code key and signing key
under ./var of whatever folder it was started from (so codes sold from another folder never
matched), and retired a signing key whose private half it could not find, both silently.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import create_engine, text

from backend_client.wire import Routes
from central.process import REPO_ROOT, free_port
from tests.support.central_server import RunningCentral

SHOWING = "show-demo-soon"


def central_cli(*args: str, cwd: Path, env: dict[str, str] | None = None,
                timeout: float = 60) -> subprocess.CompletedProcess[str]:
    base = {key: value for key, value in os.environ.items() if not key.startswith("CENTRAL_")}
    return subprocess.run([sys.executable, "-m", "central", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env={**base, "PYTHONPATH": str(REPO_ROOT), **(env or {})})


def one_line_failure(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode != 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


def files_under(folder: Path) -> list[Path]:
    return sorted(path for path in folder.rglob("*") if path.is_file())


def test_without_a_secrets_folder_the_central_refuses_to_start_and_creates_nothing(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'central.db'}"
    for command in (["serve", "--port", str(free_port())], ["demo-data"], ["create-order", "--showing", SHOWING,
                                                                             "--seats", "A1"]):
        line = one_line_failure(central_cli(*command, "--db", db, cwd=tmp_path, timeout=30))
        assert "CENTRAL_SECRETS_DIR is not set" in line and "init-secrets" in line, line
    assert not (tmp_path / "var").exists()  # no key made next to wherever it was started


def test_a_relative_secrets_folder_is_refused(tmp_path: Path) -> None:
    line = one_line_failure(central_cli("init-secrets", cwd=tmp_path, env={"CENTRAL_SECRETS_DIR": "secrets"}))
    assert "CENTRAL_SECRETS_DIR must be an absolute path" in line
    assert not (tmp_path / "secrets").exists()


def test_a_missing_pickup_code_key_stops_the_server_with_one_line(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets"
    env = {"CENTRAL_SECRETS_DIR": str(secrets)}
    db = f"sqlite:///{tmp_path / 'central.db'}"
    assert central_cli("init-secrets", cwd=tmp_path, env=env).returncode == 0
    (secrets / "pickup-code.key").unlink()  # e.g. a restored server without its secrets folder
    kept = files_under(secrets)
    line = one_line_failure(central_cli("serve", "--db", db, "--port", str(free_port()), cwd=tmp_path, env=env,
                                        timeout=30))
    assert f"{secrets / 'pickup-code.key'}: the pickup-code key is missing" in line
    assert files_under(secrets) == kept  # nothing was made in its place


def test_a_signing_key_without_its_private_half_is_an_error_not_a_silent_retirement(tmp_path: Path) -> None:
    central = RunningCentral(f"sqlite:///{tmp_path / 'central.db'}", tmp_path / "central")
    central.init_secrets()
    central.load_demo_data()
    signing = central.workdir / "secrets" / "signing"
    [key_file] = files_under(signing)
    key_file.unlink()
    done = central.cli("serve", "--port", str(free_port()))
    line = one_line_failure(done)
    assert f"private half of signing key {key_file.stem} is missing" in line
    assert "init-secrets" in line
    # Commands that sign say the same, and the key is neither retired nor replaced.
    assert "is missing" in one_line_failure(central.cli("create-order", "--showing", SHOWING, "--seats", "Z1"))
    engine = create_engine(central.db_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT id, retired_at FROM signing_keys")).all()
    finally:
        engine.dispose()
    assert [(row[0], row[1]) for row in rows] == [(key_file.stem, None)]
    assert files_under(signing) == []


def test_init_secrets_is_explicit_idempotent_and_private(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets"
    env = {"CENTRAL_SECRETS_DIR": str(secrets)}
    first = central_cli("init-secrets", cwd=tmp_path, env=env)
    assert first.returncode == 0, first.stderr
    assert '"pickup_code_key": "created"' in first.stdout and '"signing_key": "created k' in first.stdout
    assert '"issuer_keys": "created"' in first.stdout  # the year-cards' master keys
    assert '"face_template_key": "created"' in first.stdout  # face templates' encryption key
    contents = {path: path.read_bytes() for path in files_under(secrets)}
    assert len(contents) == 4
    assert (secrets.stat().st_mode & 0o777) == 0o700
    assert all((path.stat().st_mode & 0o777) == 0o600 for path in contents)
    again = central_cli("init-secrets", cwd=tmp_path, env=env)
    assert again.returncode == 0 and '"pickup_code_key": "kept"' in again.stdout and '"signing_key": "kept"' \
        in again.stdout and '"issuer_keys": "kept"' in again.stdout and '"face_template_key": "kept"' in again.stdout
    assert {path: path.read_bytes() for path in files_under(secrets)} == contents


def test_commands_run_from_other_folders_share_the_same_keys(tmp_path: Path) -> None:
    """The server, the demo data and a sale each started in a different folder: the code still matches."""
    folders = [tmp_path / name for name in ("ops", "shop", "server")]
    for folder in folders:
        folder.mkdir()
    env = {"CENTRAL_SECRETS_DIR": str(tmp_path / "secrets"), "CENTRAL_DB_URL": f"sqlite:///{tmp_path / 'c.db'}"}
    assert central_cli("init-secrets", cwd=folders[0], env=env).returncode == 0
    credential = tmp_path / "kiosk.credential"
    assert central_cli("demo-data", "--kiosk-credential-out", str(credential), cwd=folders[0], env=env).returncode == 0
    sold = central_cli("create-order", "--showing", SHOWING, "--seats", "W1", cwd=folders[1], env=env)
    assert sold.returncode == 0, sold.stderr
    order: dict[str, Any] = json.loads(sold.stdout)
    port = free_port()
    base = {key: value for key, value in os.environ.items() if not key.startswith("CENTRAL_")}
    with (folders[2] / "central.log").open("wb") as log:
        server = subprocess.Popen([sys.executable, "-m", "central", "serve", "--port", str(port)], cwd=folders[2],
                                  env={**base, "PYTHONPATH": str(REPO_ROOT), **env}, stdout=log, stderr=log)
    try:
        headers = {"Authorization": f"Bearer {credential.read_text().strip()}"}
        answer = _post_when_up(f"http://127.0.0.1:{port}{Routes.LOOKUP_CODE}", headers,
                               {"serial": order["serial"], "verification": order["verification"]}, server)
        assert answer.status_code == 200, answer.text
        assert answer.json()["order"]["order_id"] == order["order_id"]
    finally:
        server.terminate()
        server.wait(timeout=15)
    assert not any((folder / "var").exists() for folder in folders)


def _post_when_up(url: str, headers: dict[str, str], body: dict[str, str],
                  server: subprocess.Popen[bytes]) -> requests.Response:
    for _ in range(300):
        assert server.poll() is None, "the central exited"
        try:
            return requests.post(url, json=body, headers=headers, timeout=5)
        except requests.ConnectionError:
            time.sleep(0.1)
    raise AssertionError("the central did not come up")
