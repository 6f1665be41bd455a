"""Tests that need ../shared/data skip in a clone without it, and fail under CI=true."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.shared_data import require_shared


def test_missing_data_skips_with_the_folder_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    missing = tmp_path / "shared" / "data" / "qr"
    with pytest.raises(pytest.skip.Exception, match=str(missing)):
        require_shared(missing)


def test_missing_data_fails_under_ci(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    missing = tmp_path / "escpos"
    with pytest.raises(pytest.fail.Exception, match="CI must have it"):
        require_shared(missing)


def test_present_data_is_returned(tmp_path: Path) -> None:
    assert require_shared(tmp_path) == tmp_path
