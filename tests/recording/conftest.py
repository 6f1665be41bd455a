"""Scenario replays run the real Kivy app offscreen: one window per test process, as in tests/ui."""

from __future__ import annotations

import os
import tempfile

from kiosk.kivy_setup import prepare_kivy

os.environ.setdefault("SDL_VIDEODRIVER", "offscreen")
prepare_kivy(kivy_home=os.environ.get("KIVY_HOME") or tempfile.mkdtemp(prefix="kiosk-kivy-home-"), quiet=True,
             max_fps=0)
