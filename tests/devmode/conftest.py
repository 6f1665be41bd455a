"""One Kivy window per test process (as tests/ui): each test builds a kiosk runtime on it."""

from __future__ import annotations

import os
import tempfile

from kiosk.kivy_setup import prepare_kivy

# Before Kivy's first import: a private Kivy home, no logs, no frame-rate cap.
prepare_kivy(kivy_home=os.environ.get("KIVY_HOME") or tempfile.mkdtemp(prefix="kiosk-kivy-home-"), quiet=True,
             max_fps=0)
