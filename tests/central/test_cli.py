"""The operator's CLI: JSON results on stdout, one-line errors on stderr, idempotent demo data."""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from sqlalchemy import create_engine, text

from backend_client.wire import ErrorCode, Routes
from tests.central.kiosk_api import KioskApi, ok, refusal
from tests.support.central_server import REPO_ROOT, RunningCentral, running_central


def _central_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "central", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PYTHONPATH": str(REPO_ROOT), "PATH": "/usr/bin:/bin"},
    )


def _one_line_failure(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode != 0, done.stdout
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["nonsense"],
        ["serve", "--port", "eighty"],
        ["create-order", "--seats", "A1"],
        ["kiosk", "enrol"],
        ["migrate", "--db", "mysql://x/y"],
        ["migrate", "--db", "not a url"],
        ["migrate", "--db", "postgresql+nodriver://u:p@127.0.0.1/x"],
        ["migrate", "--db", "postgresql+psycopg://u:p@127.0.0.1:1/x"],
    ],
    ids=[
        "nothing",
        "unknown-command",
        "bad-port",
        "missing-showing",
        "missing-name",
        "unsupported-db",
        "not-a-url",
        "unknown-driver",
        "unreachable-postgres",
    ],
)
def test_bad_arguments_and_bad_database_urls_fail_in_one_line(args: list[str], tmp_path: Path) -> None:
    _one_line_failure(_central_cli(*args, cwd=tmp_path))


def test_bad_setting_from_the_environment_fails_in_one_line(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "central", "migrate", "--db", f"sqlite:///{tmp_path}/c.db"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PYTHONPATH": str(REPO_ROOT), "CENTRAL_CLAIM_LEASE_SECONDS": "soon"},
    )
    assert "CENTRAL_CLAIM_LEASE_SECONDS" in _one_line_failure(done)


def test_operator_mistakes_are_explained(module_central: RunningCentral) -> None:
    soon = module_central.demo["showings"]["soon"]["showing_id"]
    taken = module_central.demo["orders"]["ready"]["seats"][0]
    assert "no showing" in _one_line_failure(module_central.cli("create-order", "--showing", "x", "--seats", "A1"))
    assert "bad seat" in _one_line_failure(module_central.cli("create-order", "--showing", soon, "--seats", "A-1"))
    assert taken in _one_line_failure(module_central.cli("create-order", "--showing", soon, "--seats", taken))
    assert "no order" in _one_line_failure(module_central.cli("refund", "ord-nope"))
    assert "no order" in _one_line_failure(module_central.cli("revoke-codes", "ord-nope"))
    assert "no cinema" in _one_line_failure(module_central.cli("kiosk", "enrol", "Lobby-9-9", "--cinema", "nope"))
    assert "no kiosk" in _one_line_failure(module_central.cli("kiosk", "revoke", "kiosk-nope"))


def test_create_order_prints_its_code_once_and_stores_only_a_hash(module_central: RunningCentral) -> None:
    soon = module_central.demo["showings"]["soon"]["showing_id"]
    order = module_central.cli_json("create-order", "--showing", soon, "--seats", "Y1,Y2", "--price-fen", "5000")
    assert len(order["serial"]) == 6 and len(order["verification"]) == 6 and order["qr_token"].startswith("TK1.")
    tickets = ok(KioskApi(module_central).lookup_order(order))["order"]["tickets"]
    assert [t["price_fen"] for t in tickets] == [5000, 5000]
    # The database holds the serial and a keyed hash, never the verification code itself.
    engine = create_engine(module_central.db_url)
    try:
        with engine.connect() as connection:
            row = (
                connection.execute(text("SELECT * FROM pickup_codes WHERE serial = :s"), {"s": order["serial"]})
                .one()
                ._asdict()
            )
    finally:
        engine.dispose()
    key = (module_central.workdir / "secrets" / "pickup-code.key").read_bytes().strip()
    expected = hmac.new(key, f"{order['serial']}:{order['verification']}".encode(), hashlib.sha256).hexdigest()
    assert row["code_hmac"] == expected
    assert not any(order["verification"] in str(value) for value in row.values())


def test_demo_data_is_idempotent_and_keeps_a_valid_credential(module_central: RunningCentral) -> None:
    credential_file = module_central.kiosk_credential_file
    again = module_central.cli_json("demo-data", "--kiosk-credential-out", str(credential_file))
    assert credential_file.read_text().strip() == module_central.kiosk_credential
    for name, order in module_central.demo["orders"].items():
        assert again["orders"][name]["serial"] == order["serial"]
        assert again["orders"][name]["ticket_ids"] == order["ticket_ids"]
    assert again["showings"] == module_central.demo["showings"]
    ok(KioskApi(module_central).lookup_token(again["orders"]["single"]["qr_token"]))
    assert (credential_file.stat().st_mode & 0o777) == 0o600


def test_secrets_folder_is_private(module_central: RunningCentral) -> None:
    secrets_dir = module_central.workdir / "secrets"
    assert (secrets_dir.stat().st_mode & 0o777) == 0o700
    for path in secrets_dir.rglob("*"):
        if path.is_file():
            assert (path.stat().st_mode & 0o777) == 0o600, path


def test_server_without_test_hooks_has_no_test_routes(tmp_path: Path) -> None:
    with running_central(f"sqlite:///{tmp_path / 'central.db'}", tmp_path, test_hooks=False) as central:
        answer = requests.post(central.base_url + "/test/clock/advance", json={"seconds": 1000}, timeout=10)
        refusal(answer, ErrorCode.BAD_REQUEST, status=404)
        ok(KioskApi(central).get(Routes.HELLO))
        assert "/test/clock/advance" not in json.dumps(
            requests.get(central.base_url + "/openapi.json", timeout=10).json()
        )
