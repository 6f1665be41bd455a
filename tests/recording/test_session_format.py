"""The session format: encrypted at rest, rotated by size, tolerant of a cut-off tail, expiring."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import pytest

from kiosk.recording.session import (
    Event,
    SessionError,
    SessionHeader,
    SessionWriter,
    list_sessions,
    load_key,
    load_or_create_key,
    read_session,
)


def header() -> SessionHeader:
    return SessionHeader(app_version="0.1.0", config_digest="abc", started_at="2026-11-20T10:00:00+00:00")


def write(folder: Path, key: bytes, events: int, part_bytes: int = 1 << 20) -> None:
    writer = SessionWriter(folder, key, header(), part_bytes)
    for index in range(events):
        writer.write(Event(index * 0.5, "qr", {"text": f"TK1.code-{index}", "raw": "00", "decoder": "zxing"}))
    writer.close()


def test_key_is_made_once_with_owner_only_permissions(tmp_path: Path) -> None:
    path = tmp_path / "var" / "recording.key"
    key = load_or_create_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_key(path) == key and len(key) == 32


def test_encrypted_session_reads_back_and_hides_codes(tmp_path: Path) -> None:
    key = load_or_create_key(tmp_path / "k")
    write(tmp_path / "s", key, 5)
    assert b"TK1.code" not in b"".join(p.read_bytes() for p in (tmp_path / "s").iterdir())
    session = read_session(tmp_path / "s", key)
    assert [e.data["text"] for e in session.events] == [f"TK1.code-{i}" for i in range(5)]
    assert session.header.config_digest == "abc"


def test_wrong_key_is_a_clear_error(tmp_path: Path) -> None:
    write(tmp_path / "s", load_or_create_key(tmp_path / "k1"), 2)
    with pytest.raises(SessionError, match="wrong key"):
        read_session(tmp_path / "s", load_or_create_key(tmp_path / "k2"))


def test_parts_rotate_by_size_and_read_as_one_timeline(tmp_path: Path) -> None:
    key = load_or_create_key(tmp_path / "k")
    write(tmp_path / "s", key, 400, part_bytes=4096)
    assert len(list((tmp_path / "s").glob("part-*.krec"))) > 2
    assert len(read_session(tmp_path / "s", key).events) == 400


def test_a_record_cut_by_power_loss_is_dropped_not_misread(tmp_path: Path) -> None:
    key = load_or_create_key(tmp_path / "k")
    write(tmp_path / "s", key, 3)
    part = tmp_path / "s" / "part-0001.krec"
    part.write_bytes(part.read_bytes()[:-5])
    session = read_session(tmp_path / "s", key)
    assert len(session.events) == 2 and "cut short" in session.warnings[0]


def test_missing_key_file_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(SessionError, match="missing"):
        load_key(tmp_path / "nope.key")


def test_readable_form_errors_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"kind": "header", "app_version": "any", "config_digest": "any", '
                    '"started_at": "2026-11-20T10:00:00+00:00"}\n{"t": 1, "kind": "tap"}\nnot json\n')
    with pytest.raises(SessionError, match=r"bad.jsonl:3"):
        read_session(path, None)


def test_old_sessions_expire_when_listed(tmp_path: Path) -> None:
    key = load_or_create_key(tmp_path / "k")
    write(tmp_path / "sessions" / "old", key, 1)
    write(tmp_path / "sessions" / "new", key, 1)
    ten_days_ago = time.time() - 10 * 86400
    for part in (tmp_path / "sessions" / "old").iterdir():
        os.utime(part, (ten_days_ago, ten_days_ago))
    assert list_sessions(tmp_path / "sessions", keep_days=7) == [tmp_path / "sessions" / "new"]
    assert not (tmp_path / "sessions" / "old").exists()


def test_power_loss_in_a_rotated_session_drops_only_the_last_record(tmp_path: Path) -> None:
    key = load_or_create_key(tmp_path / "k")
    write(tmp_path / "s", key, 400, part_bytes=4096)
    parts = sorted((tmp_path / "s").glob("part-*.krec"))
    assert len(parts) > 2
    parts[-1].write_bytes(parts[-1].read_bytes()[:-3])  # the record being written when power went
    session = read_session(tmp_path / "s", key)
    assert [e.data["text"] for e in session.events] == [f"TK1.code-{i}" for i in range(399)]
    assert len(session.warnings) == 1 and parts[-1].name in session.warnings[0]


def test_a_cut_part_in_the_middle_loses_its_last_record_and_the_rest_reads(tmp_path: Path) -> None:
    key = load_or_create_key(tmp_path / "k")
    write(tmp_path / "s", key, 400, part_bytes=4096)
    whole = read_session(tmp_path / "s", key).events
    first = sorted((tmp_path / "s").glob("part-*.krec"))[0]
    in_first = len(read_session_without_later_parts(tmp_path, first, key))
    first.write_bytes(first.read_bytes()[:-10])
    events = read_session(tmp_path / "s", key).events
    assert [e.data for e in events] == [e.data for e in whole[:in_first - 1] + whole[in_first:]]


def read_session_without_later_parts(tmp_path: Path, part: Path, key: bytes) -> list[Event]:
    alone = tmp_path / "alone"
    alone.mkdir()
    (alone / part.name).write_bytes(part.read_bytes())
    return read_session(alone, key).events
