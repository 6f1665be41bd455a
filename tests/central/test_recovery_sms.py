"""Unit tests of central/sms.py (the simulator's spool and its readers, the HTTP driver against a local
server) and of recovery's settings and the face-template sealing."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from central.config import Settings, SettingsError
from central.face_templates import FaceKeyError, FaceSealer, encoding_problem, write_new_face_key
from central.secret_store import SecretsError
from central.sms import HttpGateway, SmsError, SpoolGateway, latest_code, make_gateway, read_inbox

NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def test_the_spool_keeps_one_line_per_message_and_the_readers_find_codes(tmp_path: Path) -> None:
    spool = tmp_path / "sms" / "spool.jsonl"
    gateway = SpoolGateway(spool)
    gateway.send("13800138000", "recovery_code", "code 111111", NOW, {"code": "111111"})
    gateway.send("13900139000", "recovery_code", "code 222222", NOW, {"code": "222222"})
    gateway.send("13800138000", "pickup_code", "new 300001 333333", NOW, {"serial": "300001", "code": "333333"})
    lines = spool.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 3 and json.loads(lines[0]) == {
        "at": "2026-12-01T08:00:00Z", "to": "13800138000", "kind": "recovery_code", "text": "code 111111",
        "code": "111111"}
    assert [m["kind"] for m in read_inbox(spool, "13800138000")] == ["recovery_code", "pickup_code"]
    assert latest_code(spool, "13800138000") == "333333"
    assert latest_code(spool, "13800138000", "recovery_code") == "111111"
    assert latest_code(spool, "13700000000") is None
    assert read_inbox(tmp_path / "none.jsonl", "13800138000") == []


class _Provider(BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []
    status = 200

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).received.append({"auth": self.headers.get("Authorization"), "body": body})
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def provider() -> Iterator[tuple[str, type[_Provider]]]:
    handler = type("Provider", (_Provider,), {"received": [], "status": 200})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/send", handler
    finally:
        server.shutdown()
        server.server_close()


def test_the_http_driver_posts_the_text_with_its_key_and_reports_refusals(
    provider: tuple[str, type[_Provider]],
) -> None:
    url, handler = provider
    gateway = HttpGateway(url, "provider-key")
    assert "provider-key" not in repr(gateway)
    gateway.send("13800138000", "recovery_code", "code 123456", NOW, {"code": "123456"})
    assert handler.received == [{"auth": "Bearer provider-key", "body": {
        "to": "13800138000", "kind": "recovery_code", "text": "code 123456"}}]
    handler.status = 503
    with pytest.raises(SmsError, match="503"):
        gateway.send("13800138000", "recovery_code", "again", NOW)


def test_choosing_a_gateway_is_explicit_and_checked(tmp_path: Path) -> None:
    assert make_gateway(Settings(db_url="sqlite://")) is None
    spool = make_gateway(Settings(db_url="sqlite://", sms_gateway="spool", sms_spool=tmp_path / "s.jsonl"))
    assert isinstance(spool, SpoolGateway)
    with pytest.raises(SettingsError, match="CENTRAL_SMS_SPOOL"):
        Settings(db_url="sqlite://", sms_gateway="spool")
    with pytest.raises(SettingsError, match="CENTRAL_SMS_GATEWAY must be one of"):
        Settings(db_url="sqlite://", sms_gateway="carrier-pigeon")
    with pytest.raises(SettingsError, match="CENTRAL_SMS_GATEWAY_URL"):
        Settings(db_url="sqlite://", sms_gateway="http")
    http = Settings(db_url="sqlite://", sms_gateway="http", sms_gateway_url="https://sms.example/send",
                    secrets_dir=tmp_path)
    with pytest.raises(SecretsError, match="sms-gateway-key"):
        make_gateway(http)
    (tmp_path / "sms-gateway-key").write_text("k\n")
    assert isinstance(make_gateway(http), HttpGateway)
    with pytest.raises(SettingsError, match="CENTRAL_FACE_MATCH_THRESHOLD"):
        Settings(db_url="sqlite://", face_match_threshold=0.9)


def test_a_sealed_template_opens_only_with_its_key_and_its_account(tmp_path: Path) -> None:
    assert write_new_face_key(tmp_path) is True and write_new_face_key(tmp_path) is False
    settings = Settings(db_url="sqlite://", secrets_dir=tmp_path)
    sealer = FaceSealer.load(settings)
    encoding = [i / 1000 for i in range(128)]
    sealed = sealer.seal("acct-1", encoding)
    assert sealer.open("acct-1", sealed) == encoding
    assert "0.127" not in sealed and sealer.seal("acct-1", encoding) != sealed  # a fresh nonce each time
    with pytest.raises(FaceKeyError):
        sealer.open("acct-2", sealed)  # moved to another account's row
    with pytest.raises(FaceKeyError):
        FaceSealer(b"\x00" * 32).open("acct-1", sealed)
    assert encoding_problem(encoding) is None
    assert encoding_problem([float("nan"), *encoding[1:]]) is not None
    assert encoding_problem([float("inf"), *encoding[1:]]) is not None
    assert encoding_problem(encoding[:127]) is not None
