"""Sending SMS: the gateway interface, the simulator the tests and the demo read, and an HTTP driver.

Choosing a gateway is explicit configuration (``CENTRAL_SMS_GATEWAY``):

- ``spool``: the simulator. Each message is one JSON line appended to ``CENTRAL_SMS_SPOOL``:
  ``{"at": "2026-12-01T08:00:00Z", "to": "13800138000", "kind": "recovery_code", "text": "...",
  "code": "123456"}`` (``code`` for messages that carry one; a new pickup code's message has
  ``"kind": "pickup_code"``, its ``"serial"`` and its verification as ``"code"``). :func:`read_inbox` and
  :func:`latest_code` read it back. The spool holds clear phone numbers and codes: a test and
  demo tool, never for production.
- ``http``: POST ``{"to", "kind", "text"}`` as JSON to ``CENTRAL_SMS_GATEWAY_URL`` with the key in
  ``<CENTRAL_SECRETS_DIR>/sms-gateway-key`` as a Bearer token (the provider's key: placed there
  by the operator, never made by the central); a timeout, a refused connection or a non-2xx
  answer is an :class:`SmsError`.
- unset: no SMS; recovery does not offer the SMS code.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import requests

from central.config import Settings

SMS_KEY_FILE = "sms-gateway-key"
HTTP_TIMEOUT_S = (3.0, 5.0)  # connect, read: a person waits at the kiosk


class SmsError(RuntimeError):
    """The gateway did not take the message (nothing was sent)."""


class SmsGateway(Protocol):
    def send(self, to: str, kind: str, text: str, now: datetime, codes: dict[str, str] | None = None) -> None:
        """Hand one message to the gateway; SmsError when it was not taken.

        ``codes``: what the text carries, for the simulator's readers ({"code": ...}, and
        {"serial": ...} for a pickup code); a real gateway sends only the text."""


class SpoolGateway:
    """The simulator: one JSON line per message in a file the tests and the demo read."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def send(self, to: str, kind: str, text: str, now: datetime, codes: dict[str, str] | None = None) -> None:
        record: dict[str, Any] = {"at": now.isoformat().replace("+00:00", "Z"), "to": to, "kind": kind, "text": text}
        record.update(codes or {})
        line = json.dumps(record, ensure_ascii=False) + "\n"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            with os.fdopen(fd, "a", encoding="utf-8") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX)  # one whole line per message, whoever else writes
                handle.write(line)
        except OSError as exc:
            raise SmsError(f"SMS spool {self.path}: {type(exc).__name__}") from None


class HttpGateway:
    """A provider's HTTP API: one POST per message."""

    def __init__(self, url: str, key: str, session: requests.Session | None = None) -> None:
        self.url = url
        self._key = key
        self._http = session or requests.Session()

    def __repr__(self) -> str:
        return f"HttpGateway({self.url!r}, <key hidden>)"

    def send(self, to: str, kind: str, text: str, now: datetime, codes: dict[str, str] | None = None) -> None:
        try:
            answer = self._http.post(
                self.url, json={"to": to, "kind": kind, "text": text},
                headers={"Authorization": f"Bearer {self._key}"}, timeout=HTTP_TIMEOUT_S,
            )
        except requests.RequestException as exc:
            raise SmsError(f"SMS gateway unreachable: {type(exc).__name__}") from None
        if not 200 <= answer.status_code < 300:
            raise SmsError(f"SMS gateway answered {answer.status_code}")


def make_gateway(settings: Settings) -> SmsGateway | None:
    """The configured gateway, or None when SMS is not configured."""
    if settings.sms_gateway is None:
        return None
    if settings.sms_gateway == "spool":
        assert settings.sms_spool is not None  # Settings checks it
        return SpoolGateway(settings.sms_spool)
    from central.secret_store import SecretsError, require_secrets_dir

    path = require_secrets_dir(settings, "SMS gateway key") / SMS_KEY_FILE
    try:
        key = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        raise SecretsError(
            f"{path}: the SMS gateway's key is missing or unreadable (CENTRAL_SMS_GATEWAY=http)") from None
    if not key:
        raise SecretsError(f"{path}: the SMS gateway's key is empty")
    assert settings.sms_gateway_url is not None
    return HttpGateway(settings.sms_gateway_url, key)


# -- reading the simulator's spool (tests, the demo) -----------------------------------------


def _records(path: Path) -> Iterator[dict[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return
    for line in text.splitlines():
        if line.strip():
            record = json.loads(line)
            if isinstance(record, dict):
                yield record


def read_inbox(path: Path, phone: str) -> list[dict[str, Any]]:
    """The messages the simulator 'sent' to this phone, oldest first."""
    return [record for record in _records(path) if record.get("to") == phone]


def latest_code(path: Path, phone: str, kind: str | None = None) -> str | None:
    """The code of the newest message to this phone (of this kind) that carries one."""
    for record in reversed(read_inbox(path, phone)):
        if "code" in record and (kind is None or record.get("kind") == kind):
            return str(record["code"])
    return None
