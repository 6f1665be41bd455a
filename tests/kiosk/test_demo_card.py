"""The demo's year-card parts where pcscd cannot run: the journey is refused with the reason, not skipped."""

from __future__ import annotations

from pathlib import Path

import pytest

from kiosk import demo_card


def test_without_pcscd_the_card_journey_fails_with_the_reason_and_the_kiosk_keeps_its_readers(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(demo_card, "missing_pcsc_parts", lambda: "pcscd is not installed (apt-get install pcscd)")
    parts = demo_card.start_pcsc_parts({"psam": tmp_path / "psam.json", "active": tmp_path / "card.json"},
                                       tmp_path / "pcscd")
    assert parts.problem == "pcscd is not installed (apt-get install pcscd)"
    assert parts.overrides == {} and parts.rig is None and parts.pcscd is None  # the configured reader stays
    with pytest.raises(RuntimeError, match="cannot run: pcscd is not installed"):
        demo_card.card_journey(None, None, None, parts, "show-demo-soon", lambda label: None, 1.0)
    parts.stop()  # nothing was started: nothing to stop


def test_a_windowed_demo_answers_the_demo_card_in_process(tmp_path: Path) -> None:
    images = {"psam": tmp_path / "psam.json", "active": tmp_path / "card-active.json"}
    assert demo_card.windowed_overrides(images) == {
        "card.reader": "sim", "card.sim_psam_image": str(images["psam"]),
        "card.sim_card_image": str(images["active"])}
