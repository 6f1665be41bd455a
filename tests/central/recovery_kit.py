"""Helpers for the recovery tests: a kiosk calling the recovery routes, orders bound to fresh phones,
face encodings of the shared photos, and the raw database."""

from __future__ import annotations

import itertools
import random
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import text

from backend_client.wire import IDEMPOTENCY_HEADER, Routes
from central.db import make_engine
from tests.central.kiosk_api import KioskApi, new_kiosk, ok
from tests.shared_data import FACES_DIR, require_shared
from tests.support.central_server import RunningCentral

_seats = itertools.count(1)
CONSENT = "face-v1"
ENROLLED_PHOTO = "obama_1.jpg"  # the template
GENUINE_PHOTO = "obama_2.jpg"  # the same person, another photo
IMPOSTOR_PHOTO = "biden_1.jpg"
MULTI_FACE_PHOTO = "group_1.jpg"


def fresh_phone() -> str:
    return "139" + f"{random.SystemRandom().randrange(10**8):08d}"


def key() -> str:
    return uuid.uuid4().hex


def photo(name: str) -> Path:
    return require_shared(FACES_DIR) / name


class RecoveryKiosk(KioskApi):
    """One kiosk's recovery calls over HTTP; each POST carries a fresh Idempotency-Key unless given one."""

    def _post(self, path: str, body: Any, idem: str | None) -> Any:
        return self.post(path, body, {IDEMPOTENCY_HEADER: idem or key()})

    def start(self, phone: str, id_last4: str | None = None, consent: str | None = CONSENT,
              idem: str | None = None) -> Any:
        body: dict[str, Any] = {"phone": phone, "face_consent": consent}
        if id_last4 is not None:
            body["id_last4"] = id_last4
        return self._post(Routes.RECOVERY_SESSIONS, body, idem)

    def session(self, session_id: str) -> Any:
        return self.get(Routes.RECOVERY_SESSION.format(session_id=session_id))

    def face(self, session_id: str, encoding: list[float] | None, passed: bool = True, reason: str | None = None,
             idem: str | None = None) -> Any:
        body = {"encoding": encoding, "liveness": {"challenge": "blink,turn_left", "passed": passed, "reason": reason}}
        return self._post(Routes.RECOVERY_FACE.format(session_id=session_id), body, idem)

    def send_sms(self, session_id: str, idem: str | None = None) -> Any:
        return self._post(Routes.RECOVERY_SMS.format(session_id=session_id), None, idem)

    def check_sms(self, session_id: str, code: str, idem: str | None = None) -> Any:
        return self._post(Routes.RECOVERY_SMS_CHECK.format(session_id=session_id), {"code": code}, idem)

    def complete(self, session_id: str, order_id: str, delivery: str = "print", idem: str | None = None) -> Any:
        return self._post(Routes.RECOVERY_COMPLETE.format(session_id=session_id),
                          {"order_id": order_id, "delivery": delivery}, idem)


def recovery_kiosk(central: RunningCentral, cinema: str | None = None) -> RecoveryKiosk:
    """A newly enrolled kiosk (its own rate-limit counters)."""
    enrolled = new_kiosk(central, cinema)
    return RecoveryKiosk(central, enrolled.credential)


def bound_order(central: RunningCentral, phone: str, showing: str = "soon", seats: int = 2,
                id_last4: str | None = None) -> dict[str, Any]:
    """A paid order bound to the account of ``phone`` (made if new), through the CLI."""
    seat_list = ",".join(f"Y{next(_seats)}" for _ in range(seats))
    args = ["create-order", "--showing", central.demo["showings"][showing]["showing_id"], "--seats", seat_list,
            "--phone", phone]
    if id_last4 is not None:
        args += ["--id-last4", id_last4]
    result: dict[str, Any] = central.cli_json(*args)
    return result


def sms_code(central: RunningCentral, phone: str, kind: str = "recovery_code") -> str:
    from central.sms import latest_code

    assert central.sms_spool is not None
    code = latest_code(central.sms_spool, phone, kind)
    assert code is not None, f"no {kind} SMS to this phone"
    return code


def verify_by_sms(central: RunningCentral, kiosk: RecoveryKiosk, phone: str, session_id: str) -> dict[str, Any]:
    ok(kiosk.send_sms(session_id))
    verdict = ok(kiosk.check_sms(session_id, sms_code(central, phone)))
    assert verdict["matched"] is True
    return verdict


def rows(central: RunningCentral, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    engine = make_engine(central.db_url)
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(text(sql), params)]
    finally:
        engine.dispose()


def table_text(central: RunningCentral, table: str) -> str:
    """Every row of a table as text: what a stolen database would show."""
    return "\n".join(repr(row) for row in rows(central, f"SELECT * FROM {table}"))
