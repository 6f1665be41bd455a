"""Operators find the ids the other commands take: `list-showings`, `list-kiosks`; every option is explained."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support.central_server import REPO_ROOT, RunningCentral
from tests.support.cli_help import entries_without_help


def test_list_showings_names_the_ids_create_order_takes(module_central: RunningCentral) -> None:
    listed = module_central.cli_json("list-showings")["showings"]
    demo = module_central.demo["showings"]
    ids = [showing["showing_id"] for showing in listed]
    # Showings not yet over, soonest first; the past one only with --all.
    assert demo["past"]["showing_id"] not in ids
    assert set(ids) == {demo[name]["showing_id"]
                        for name in ("soon", "later_today", "tomorrow", "other_cinema", "started")}
    assert [s["starts_at"] for s in listed] == sorted(s["starts_at"] for s in listed)
    soon = next(s for s in listed if s["showing_id"] == demo["soon"]["showing_id"])
    assert soon["film_title"] == demo["soon"]["film_title"] and soon["cinema_id"] == module_central.demo["cinema_id"]
    assert soon["seats_sold"] >= 5  # the demo's orders for it (the refunded seat does not count)
    every = [s["showing_id"] for s in module_central.cli_json("list-showings", "--all")["showings"]]
    assert demo["past"]["showing_id"] in every
    other = module_central.cli_json("list-showings", "--cinema", module_central.demo["other_cinema_id"])
    assert [s["showing_id"] for s in other["showings"]] == [demo["other_cinema"]["showing_id"]]
    # An id from the list is what create-order takes.
    order = module_central.cli_json("create-order", "--showing", ids[0], "--seats", "X9")
    assert order["showing_id"] == ids[0]


def test_list_kiosks_names_the_ids_and_never_a_credential(module_central: RunningCentral) -> None:
    enrolled = module_central.cli_json("kiosk", "enrol", "Lobby-02-01", "--cinema", module_central.demo["cinema_id"])
    module_central.cli_json("kiosk", "revoke", enrolled["kiosk_id"])
    done = module_central.cli("list-kiosks")
    assert done.returncode == 0, done.stderr
    assert enrolled["credential"].partition(".")[2] not in done.stdout
    assert module_central.kiosk_credential.partition(".")[2] not in done.stdout
    kiosks = {k["kiosk_id"]: k for k in module_central.cli_json("list-kiosks")["kiosks"]}
    assert kiosks[module_central.demo["kiosk_id"]]["name"] == module_central.demo["kiosk_name"]
    assert kiosks[enrolled["kiosk_id"]]["revoked"] is True
    assert set(kiosks[enrolled["kiosk_id"]]) == {"kiosk_id", "name", "cinema_id", "revoked", "enrolled_at"}
    other = module_central.cli_json("list-kiosks", "--cinema", module_central.demo["other_cinema_id"])
    assert other == {"kiosks": []}
    missing = module_central.cli("list-kiosks", "--cinema", "nope")
    assert missing.returncode == 1 and missing.stderr.strip() == "central: no cinema 'nope'"


def _help(*command: str) -> str:
    done = subprocess.run([sys.executable, "-m", "central", *command, "--help"], capture_output=True, text=True,
                          timeout=30, env={"PYTHONPATH": str(REPO_ROOT), "PATH": "/usr/bin:/bin", "COLUMNS": "200"})
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("command", [
    (), ("init-secrets",), ("migrate",), ("serve",), ("demo-data",), ("create-order",), ("refund",),
    ("revoke-codes",), ("show-order",), ("list-showings",), ("list-kiosks",), ("kiosk",), ("kiosk", "enrol"),
    ("kiosk", "rotate"), ("kiosk", "revoke"), ("keys",), ("keys", "rotate"),
])
def test_every_option_and_argument_has_help(command: tuple[str, ...]) -> None:
    assert entries_without_help(_help(*command)) == [], f"central {' '.join(command)}"


def test_serve_and_create_order_explain_their_options() -> None:
    serve = _help("serve")
    assert "--host HOST" in serve and "address to listen on" in serve
    assert "--port PORT" in serve and "TCP port" in serve
    order = _help("create-order")
    assert "list-showings" in order and "fen (1/100 yuan" in order
