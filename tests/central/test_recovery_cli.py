"""Head office's recovery commands through the real CLI (subprocesses), the face-template key's life,
and the recovery migration up and down, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from PIL import Image
from sqlalchemy import inspect, text

from central.db import MIGRATIONS_DIR, make_engine, migrate
from central.models import Base
from tests.central.recovery_kit import CONSENT, ENROLLED_PHOTO, fresh_phone, photo, rows
from tests.support.central_server import RunningCentral

EXIT_REFUSED = 2


def refused_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == EXIT_REFUSED, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


def test_accounts_bind_phones_and_orders_and_refuse_bad_input(module_central: RunningCentral) -> None:
    central = module_central
    assert "11 digits" in refused_line(central.cli("accounts", "add", "--phone", "12345"))
    assert "last 4" in refused_line(central.cli("accounts", "add", "--phone", fresh_phone(), "--id-last4", "12"))
    assert "no order" in refused_line(central.cli("accounts", "add", "--phone", fresh_phone(), "--order", "ord-x"))
    phone = fresh_phone()
    showing = central.demo["showings"]["soon"]["showing_id"]
    # A bad phone refuses before any seat is sold: the same seats sell afterwards.
    refused_line(central.cli("create-order", "--showing", showing, "--seats", "W1", "--phone", "999"))
    order = central.cli_json("create-order", "--showing", showing, "--seats", "W1", "--phone", phone)
    assert order["phone_masked"] == phone[:3] + "****" + phone[-4:] and order["serial"]
    other = central.cli_json("create-order", "--showing", showing, "--seats", "W2")
    added = central.cli_json("accounts", "add", "--phone", phone, "--id-last4", "123x", "--order", other["order_id"])
    assert added["created"] is False and added["id_last4_on_file"] is True
    assert sorted(added["order_ids"]) == sorted([order["order_id"], other["order_id"]])
    shown = central.cli("accounts", "show", "--phone", phone)
    assert shown.returncode == 0 and phone not in shown.stdout
    assert json.loads(shown.stdout)["face_enrolled"] is False
    assert "no account" in refused_line(central.cli("accounts", "show", "--phone", fresh_phone()))


def test_faces_enrol_from_one_face_only_and_delete(module_central: RunningCentral, tmp_path: Path) -> None:
    central = module_central
    phone = fresh_phone()
    central.cli_json("accounts", "add", "--phone", phone)
    blank = tmp_path / "wall.png"
    Image.new("RGB", (320, 240), (200, 200, 200)).save(blank)
    assert "no face" in refused_line(central.cli("faces", "enroll", "--phone", phone, str(blank),
                                                 "--consent-version", CONSENT))
    assert "faces found" in refused_line(central.cli("faces", "enroll", "--phone", phone,
                                                     str(photo("group_1.jpg")), "--consent-version", CONSENT))
    notes = tmp_path / "notes.txt"
    notes.write_text("not a photo")
    assert "not an image" in refused_line(central.cli("faces", "enroll", "--phone", phone, str(notes),
                                                      "--consent-version", CONSENT))
    refused_line(central.cli("faces", "enroll", "--phone", phone, str(tmp_path / "missing.jpg"),
                             "--consent-version", CONSENT))
    refused_line(central.cli("faces", "enroll", "--phone", phone, str(photo(ENROLLED_PHOTO)),
                             "--consent-version", "bad version!"))
    assert "no account" in refused_line(central.cli("faces", "enroll", "--phone", fresh_phone(),
                                                    str(photo(ENROLLED_PHOTO)), "--consent-version", CONSENT))
    enrolled = central.cli_json("faces", "enroll", "--phone", phone, str(photo(ENROLLED_PHOTO)),
                                "--consent-version", CONSENT)
    assert enrolled["consent_version"] == CONSENT
    assert central.cli_json("accounts", "show", "--phone", phone)["face_enrolled"] is True
    assert central.cli_json("faces", "delete", "--phone", phone)["deleted"] is True
    assert central.cli_json("faces", "delete", "--phone", phone)["deleted"] is False
    assert central.cli_json("accounts", "show", "--phone", phone)["face_enrolled"] is False
    actions = [a for (a,) in rows(central, "SELECT action FROM audit_log WHERE action LIKE 'face_template%'")]
    assert actions.count("face_template_deleted") >= 2  # the audit keeps that it happened
    assert "no partner" in refused_line(central.cli("partners", "revoke", "partner-nobody"))


def test_the_face_template_key_is_made_once_and_a_missing_one_stops_the_central(
    module_central: RunningCentral,
) -> None:
    central = module_central
    key_file = Path(central.env["CENTRAL_SECRETS_DIR"]) / "face-template-key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    original = key_file.read_text()
    assert central.cli_json("init-secrets")["face_template_key"] == "kept" and key_file.read_text() == original
    try:
        key_file.write_text("not hex\n")
        done = central.cli("migrate")
        assert done.returncode == 1 and "face-template key must be 64 hex digits" in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1 and "not hex" not in done.stderr
        key_file.unlink()
        done = central.cli("list-showings")
        assert done.returncode == 1 and "face-template key is missing" in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1
    finally:
        key_file.write_text(original)
        key_file.chmod(0o600)


def _alembic(db_url: str, action: str, revision: str) -> None:
    engine = make_engine(db_url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        getattr(command, action)(config, revision)
    engine.dispose()


def test_the_recovery_migration_keeps_orders_and_goes_back(db_url: str) -> None:
    _alembic(db_url, "upgrade", "0003")
    engine = make_engine(db_url)
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO cinemas (id, name, timezone) VALUES ('c1', 'Cinema', 'Asia/Shanghai')"))
        connection.execute(text("INSERT INTO films (id, title) VALUES ('f1', 'Film')"))
        connection.execute(text("INSERT INTO halls (id, cinema_id, name) VALUES ('h1', 'c1', 'Hall')"))
        connection.execute(text(
            "INSERT INTO showings (id, film_id, hall_id, starts_at, ends_at, format) "
            "VALUES ('s1', 'f1', 'h1', '2026-12-01 10:00:00', '2026-12-01 12:00:00', '2D')"))
        connection.execute(text(
            "INSERT INTO orders (id, cinema_id, showing_id, status, created_at, source) "
            "VALUES ('o1', 'c1', 's1', 'paid', '2026-11-30 10:00:00', 'online')"))
        connection.execute(text(
            "INSERT INTO tickets (id, order_id, showing_id, \"row\", seat, price_fen, status) "
            "VALUES ('t1', 'o1', 's1', 'A', '1', 4500, 'printed')"))
    migrate(engine)
    tables = set(inspect(engine).get_table_names())
    assert {"accounts", "face_templates", "recovery_sessions", "recovery_sms_codes", "recovery_attempts",
            "recovery_replies", "partners"} <= tables
    with engine.connect() as connection:
        assert connection.execute(text("SELECT status, account_id FROM orders WHERE id = 'o1'")).one() == ("paid", None)
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
    engine.dispose()
    _alembic(db_url, "downgrade", "0003")
    engine = make_engine(db_url)
    assert "accounts" not in set(inspect(engine).get_table_names())
    assert "account_id" not in {c["name"] for c in inspect(engine).get_columns("orders")}
    with engine.connect() as connection:
        assert connection.execute(text("SELECT status FROM orders WHERE id = 'o1'")).scalar_one() == "paid"
        assert connection.execute(text("SELECT status FROM tickets WHERE id = 't1'")).scalar_one() == "printed"
    engine.dispose()


def test_demo_data_enrols_the_demo_face_once(module_central: RunningCentral) -> None:
    from central import demo

    central = module_central
    first = central.cli_json("demo-data", "--face-image", str(photo(ENROLLED_PHOTO)))
    assert first["recovery"]["face"]["face_template"] is True and first["recovery"]["sms"]["face_template"] is False
    again = central.cli_json("demo-data", "--face-image", str(photo("biden_1.jpg")))  # kept, not replaced
    assert again["orders"] == first["orders"]
    assert rows(central, "SELECT count(*) FROM audit_log WHERE action = 'face_template_enrolled' "
                "AND actor = 'cli'")[0][0] >= 1
    assert central.cli_json("accounts", "show", "--phone", demo.DEMO_RECOVERY_PHONE)["face_enrolled"] is True
    missing = central.cli("demo-data", "--face-image", "/nonexistent/face.jpg")
    assert missing.returncode == 0  # already enrolled: the photo is not read again
