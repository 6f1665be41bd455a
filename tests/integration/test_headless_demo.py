"""`kiosk demo --headless` as a person runs it: the whole product, no hardware, no screen.

The year-card journey goes through a real pcscd with the card and PSAM emulators in vpcd's two
slots: run under the shared lock, ``flock /work/vpcd.lock python -m pytest -q tests/integration/test_headless_demo.py``.
Where pcscd cannot run (not under CI) the demo must still list the card journey, with the reason.
The lost-ticket recovery is verified by face when ../shared/data/faces is there (the camera shows
frames of a live person made from a photo), else by the SMS code, which the demo says in one line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image, ImageStat

from kiosk.demo_card import missing_pcsc_parts
from kiosk.demo_recovery import plan
from tests.support.central_server import REPO_ROOT

DEMO_TIMEOUT_S = 240
# A blank image (all one colour, or a transparent export) has no spread of grey levels at all.
MIN_GREY_STDDEV = 2.0


def grey_spread(path: Path) -> float:
    """Spread of grey levels as seen on a white page (so a transparent image counts as blank)."""
    with Image.open(path) as image:
        page = Image.new("RGBA", image.size, "white")
        page.alpha_composite(image.convert("RGBA"))
        return float(ImageStat.Stat(page.convert("L")).stddev[0])


@pytest.mark.ui
@pytest.mark.slow
def test_headless_demo_plays_every_journey_and_saves_what_a_person_would_see(tmp_path: Path) -> None:
    no_pcsc = missing_pcsc_parts() if os.environ.get("CI") != "true" else ""
    out_dir = tmp_path / "demo"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
        "SDL_VIDEODRIVER": "offscreen",
        "KIVY_NO_ARGS": "1",
        "KIVY_NO_FILELOG": "1",
        "KIVY_HOME": str(tmp_path / "kivy-home"),
    }
    done = subprocess.run([sys.executable, "-m", "kiosk", "demo", "--headless", "--out", str(out_dir)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=DEMO_TIMEOUT_S)
    assert done.returncode == (1 if no_pcsc else 0), done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    last_line = done.stdout.strip().splitlines()[-1]
    assert str(out_dir.resolve()) in last_line

    summary = json.loads((out_dir / "summary.json").read_text(encoding="utf-8"))
    journeys = summary["journeys"]
    assert [journey["kind"] for journey in journeys] == ["code", "qr", "card", "recovery"]
    card = journeys[2]
    assert card["order"] == "8800********0011"  # the demo card, masked
    if no_pcsc:  # listed, never left out: one line saying why
        assert no_pcsc in card["error"] and "\n" not in card["error"], card
        assert summary["errors"] == [f"card: {card['error']}"]
        journeys = [journey for journey in journeys if journey["kind"] != "card"]
    else:
        assert summary["errors"] == []
        assert card["screens"] == ["home", "card.card", "card.showings", "card.people", "card.seats",
                                   "card.confirm", "card.done"]
        assert card["tickets"] == 2
    recovery = journeys[-1]
    by_face = plan().face
    assert recovery["verified_by"] == ("face" if by_face else "sms"), done.stderr[-3000:]
    sms_lines = [line for line in done.stderr.splitlines() if "recovery journey plays the SMS code path" in line]
    assert len(sms_lines) == (0 if by_face else 1), sms_lines
    if by_face:  # the overlay with the live preview was on screen
        assert "recovery.face" in recovery["screens"] and "recovery.consent" in recovery["screens"]
    # Recovered and printed, then the lost code typed on the pickup journey: refused.
    assert recovery["screens"][-2:] == ["recovery.done", "pickup.refused"], recovery["screens"]
    assert recovery["old_code"].startswith("refused: ")
    for journey in journeys:
        assert journey["error"] == ""
        done_screen = {"card": "card.done", "recovery": "pickup.refused"}.get(journey["kind"], "pickup.done")
        assert journey["screens"] and journey["screens"][-1] == done_screen, journey["screens"]
        assert journey["tickets"] > 0 and len(journey["ticket_images"]) == journey["tickets"]
        assert len(journey["screenshots"]) == len(journey["screens"])
        assert journey["screens"][0] == "home" and Path(journey["screenshots"][0]).name.endswith("-01-home.png")
    assert summary["tickets_printed"] == sum(journey["tickets"] for journey in journeys)

    images = {Path(p) for journey in journeys for p in journey["screenshots"] + journey["ticket_images"]}
    images |= {Path(p) for p in summary["ticket_images"]}
    assert len(summary["ticket_images"]) == summary["tickets_printed"]
    for image in sorted(images):
        assert image.is_file(), f"{image} is listed but missing"
        assert grey_spread(image) > MIN_GREY_STDDEV, f"{image} is blank"
