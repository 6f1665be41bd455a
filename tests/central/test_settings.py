"""The central's settings: every one has a range; a bad value stops `central serve` with one line."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from central.config import ENV_VAR, VALID_RANGE, Settings, SettingsError
from tests.support.central_server import REPO_ROOT, free_port

RANGED = {spec.metadata[ENV_VAR]: spec for spec in fields(Settings) if VALID_RANGE in spec.metadata}
# A server that starts when it should have refused is stopped by this (and the test fails).
SERVE_TIMEOUT_S = 30


def _serve(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "central", "serve", "--db", f"sqlite:///{tmp_path}/c.db", "--port", str(free_port())],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=SERVE_TIMEOUT_S,
        env={"PYTHONPATH": str(REPO_ROOT), "PATH": "/usr/bin:/bin", **env},
    )


@pytest.mark.parametrize(
    "name, value",
    [
        ("CENTRAL_CLAIM_GRANT_SECONDS", "99999999999999"),  # crashed at start with a traceback
        ("CENTRAL_KEY_OVERLAP_SECONDS", "99999999999999"),  # same
        ("CENTRAL_CLAIM_LEASE_SECONDS", "99999999999999"),  # started, then every claim was a 500
        ("CENTRAL_PICKUP_OPENS_HOURS", "99999999999999"),  # started, then every lookup was a 500
        ("CENTRAL_CLAIM_LEASE_SECONDS", "0"),
        ("CENTRAL_PICKUP_OPENS_HOURS", "-1"),
        ("CENTRAL_LOCKOUT_SECONDS", "9" * 5000),  # more digits than int() takes
    ],
)
def test_serve_refuses_a_setting_out_of_range_in_one_line(tmp_path: Path, name: str, value: str) -> None:
    done = _serve(tmp_path, {name: value})
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and name in lines[0], done.stderr


def test_the_defaults_are_in_range() -> None:
    defaults = Settings()
    for spec in RANGED.values():
        low, high = spec.metadata[VALID_RANGE]
        assert low <= getattr(defaults, spec.name) <= high


def test_a_setting_built_in_code_is_checked_too() -> None:
    with pytest.raises(SettingsError, match="CENTRAL_CLAIM_LEASE_SECONDS"):
        Settings(claim_lease_seconds=10**14)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(sorted(RANGED)),
    raw=st.one_of(
        st.integers(min_value=-(10**20), max_value=10**20).map(str),
        st.text(max_size=30),
        st.sampled_from(["", " ", "1e3", "0x10", "1_000", "nan", "inf", "٣", " 12 "]),
    ),
)
def test_any_environment_value_gives_usable_settings_or_a_settings_error(name: str, raw: str) -> None:
    if "\x00" in raw:
        raw = raw.replace("\x00", "")  # the environment cannot hold NUL
    with mock.patch.dict(os.environ, {name: raw}):
        try:
            loaded = Settings.from_env("sqlite://")
        except SettingsError as exc:
            assert name in str(exc)
            return
    # What the service computes from the settings never overflows, now or at a far show date.
    for now in (datetime.now(UTC), datetime(2099, 12, 31, tzinfo=UTC)):
        assert now - timedelta(hours=loaded.pickup_opens_hours) < now + timedelta(seconds=loaded.claim_lease_seconds)
        assert now + timedelta(seconds=loaded.claim_grant_seconds + loaded.key_overlap_seconds) > now
        assert now + timedelta(seconds=loaded.lockout_seconds + loaded.kiosk_delay_max_seconds) > now
