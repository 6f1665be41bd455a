"""python -m devices.sim.yearcard: images for people with PC/SC tools, and one-line refusals."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from devices.sim.psam import PsamOS, PsamStore
from devices.sim.yearcard import handler_channel, main
from devices.sim.yearcard_os import ImageStore, YearCardOS
from devices.yearcard.terminal import YearCardTerminal


def test_demo_makes_a_sold_card_a_psam_and_private_test_keys(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", "--dir", str(tmp_path), "--visits", "12"]) == 0
    keys = tmp_path / "master-keys.json"
    assert stat.S_IMODE(keys.stat().st_mode) == 0o600
    assert set(json.loads(keys.read_text())) == {"purchase", "tac", "public", "maintenance", "load"}
    card = YearCardOS(ImageStore(tmp_path / "card.json"))
    psam = PsamOS(PsamStore(tmp_path / "psam.json"))
    reading = YearCardTerminal(handler_channel(card), handler_channel(psam)).read()
    assert reading.balance == 12 and reading.public.sold
    assert reading.card_number not in capsys.readouterr().err  # masked on the console
    assert main(["demo", "--dir", str(tmp_path)]) == 1  # never overwrites a card


def test_bad_input_is_one_line_on_stderr(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--image", str(tmp_path / "missing.json")]) == 2
    assert capsys.readouterr().err.strip().count("\n") == 0
    (tmp_path / "odd.json").write_text("[]")
    assert main(["serve", "--image", str(tmp_path / "odd.json")]) == 2
    assert "not a kiosk-yearcard/1 image" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        main(["demo", "--dir", str(tmp_path / "x"), "--visits", "0"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "a card holds 1 to 9999 visits, not 0" in err and len(err) < 300
    assert main(["blank", "--image", str(tmp_path / "blank.json")]) == 0
    assert main(["blank", "--image", str(tmp_path / "blank.json")]) == 1
