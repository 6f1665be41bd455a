"""Run `central cards ...` / `central staff ...` in-process on a real database, passwords on stdin.

    desk = CardDesk(db_url, tmp_path, monkeypatch)      # secrets, schema, demo cinemas, admin "A001"
    desk.ok("cards", "types", "list", staff="A001")     # JSON result; fails the test on a non-zero exit
    code, out, err = desk.run("cards", ..., staff="S001", stdin="password\n")

The password is given on stdin as a script would (never as an argument).
"""

from __future__ import annotations

import datetime as dt
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from central.cli import main
from central.models import Cinema

ADMIN = "A001"
ADMIN_PASSWORD = "admin-password-1"
CINEMA = "cinema-demo"
OTHER_CINEMA = "cinema-demo-2"


@dataclass
class CardDesk:
    db_url: str
    tmp_path: Path
    monkeypatch: pytest.MonkeyPatch
    capsys: pytest.CaptureFixture[str]
    passwords: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.monkeypatch.setenv("CENTRAL_SECRETS_DIR", str(self.tmp_path / "secrets"))
        self.monkeypatch.delenv("CENTRAL_DB_URL", raising=False)
        assert self._main(["init-secrets"], "")[0] == 0
        assert self._main(["migrate", "--db", self.db_url], "")[0] == 0
        with self.session() as session:  # two cinemas, no staff yet (the demo data has its own staff)
            session.add_all([Cinema(id=CINEMA, name="演示影城", timezone="Asia/Shanghai"),
                             Cinema(id=OTHER_CINEMA, name="演示影城二店", timezone="Asia/Shanghai")])
            session.commit()
        code, _, err = self._main(["staff", "create-admin", ADMIN, "--name", "总部管理员", "--db", self.db_url],
                                  f"{ADMIN_PASSWORD}\n{ADMIN_PASSWORD}\n")
        assert code == 0, err
        self.passwords[ADMIN] = ADMIN_PASSWORD

    def _main(self, argv: list[str], stdin: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        self.monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        try:
            code = main(argv)
        except SystemExit as exit_:  # argparse
            code = int(exit_.code or 0)
        out, err = self.capsys.readouterr()
        return code, out, err

    def run(self, *args: str, staff: str | None = None, stdin: str | None = None) -> tuple[int, str, str]:
        argv = [*args, "--db", self.db_url]
        if staff is not None:
            argv += ["--as", staff]
            if stdin is None:
                stdin = self.passwords[staff] + "\n"
        return self._main(argv, stdin or "")

    def ok(self, *args: str, staff: str | None = ADMIN, stdin: str | None = None) -> Any:
        code, out, err = self.run(*args, staff=staff, stdin=stdin)
        assert code == 0, err
        return json.loads(out)

    def refused(self, *args: str, staff: str | None = ADMIN, stdin: str | None = None) -> str:
        """A refusal: exit 2, one line on stderr, no traceback; returns the line."""
        code, out, err = self.run(*args, staff=staff, stdin=stdin)
        assert code == 2, (out, err)
        assert "Traceback" not in err and out == ""
        lines = [line for line in err.splitlines() if line.strip()]
        assert len(lines) == 1, err
        return lines[0]

    def add_staff(self, staff_no: str, role: str, cinema: str | None = None, password: str | None = None) -> None:
        """Admin adds the user; the user logs in once with the one-time password and sets their own."""
        extra = ["--cinema", cinema] if cinema else []
        made = self.ok("staff", "add", staff_no, "--name", f"员工{staff_no}", "--role", role, *extra)
        chosen = password or f"pw-{staff_no}-secret"
        once = made["one_time_password"]
        self.ok("cards", "types", "list", staff=staff_no, stdin=f"{once}\n{chosen}\n{chosen}\n")
        self.passwords[staff_no] = chosen

    def session(self) -> Session:
        return Session(create_engine(self.db_url))


def local(day: int, hour: int = 14) -> dt.datetime:
    return dt.datetime(2026, 11, day, hour, 0, 0)
