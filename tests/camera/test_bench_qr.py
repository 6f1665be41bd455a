"""The QR benchmark's command line: counts, JSON shape, odd files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

from tests.camera.qr_images import frame_with_codes
from tests.shared_data import REPO_ROOT

SUMMARY_KEYS = {"decoded", "with_code", "false_positives", "without_code", "p50_ms", "p95_ms"}


def run_bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bench.qr", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def make_folder(folder: Path) -> None:
    folder.mkdir()
    # Expected text written with CRLF and surrounding whitespace: compared as LF, stripped.
    cv2.imwrite(str(folder / "1.png"), frame_with_codes("line one\nline two"))
    (folder / "1.txt").write_bytes(b"line one\r\nline two\r\n  ")
    cv2.imwrite(str(folder / "2.png"), frame_with_codes("TK1.actual"))
    (folder / "2.txt").write_text("TK1.expected", encoding="utf-8")
    cv2.imwrite(str(folder / "3.png"), np.full((240, 320, 3), 128, dtype=np.uint8))
    cv2.imwrite(str(folder / "4.png"), np.zeros((1, 1, 3), dtype=np.uint8))
    (folder / "5.jpg").write_bytes(b"not an image")
    (folder / "1.metadata.txt").write_text("ignored")


def test_json_mode_prints_one_object_with_counts_per_folder(tmp_path: Path) -> None:
    folder = tmp_path / "set"
    make_folder(folder)
    result = run_bench("--json", str(folder))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)  # the whole of stdout is one JSON object
    assert set(report["total"]) >= SUMMARY_KEYS
    counts = report["folders"][str(folder)]
    assert set(counts) >= SUMMARY_KEYS
    assert (counts["with_code"], counts["decoded"], counts["wrong_text"]) == (2, 1, 1)
    assert (counts["without_code"], counts["false_positives"], counts["unreadable"]) == (3, 0, 1)
    assert report["total"]["decoded"] == 1
    assert set(report["single_decoders"]) == {"zxing", "pyzbar"}


def test_table_mode_shows_the_pipeline_and_each_decoder_alone(tmp_path: Path) -> None:
    folder = tmp_path / "set"
    make_folder(folder)
    result = run_bench(str(folder))
    assert result.returncode == 0, result.stderr
    assert "pipeline" in result.stdout
    assert "zxing alone" in result.stdout
    assert "pyzbar alone" in result.stdout
    assert "false_positives" in result.stdout


def test_a_missing_folder_is_named_on_stderr(tmp_path: Path) -> None:
    result = run_bench("--json", str(tmp_path / "nowhere"))
    assert result.returncode == 2
    assert "not a folder" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
