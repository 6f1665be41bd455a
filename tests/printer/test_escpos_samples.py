"""The virtual printer reads every sample job another ESC/POS library produced."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import zxingcpp
from PIL import Image

from devices.sim.escpos_parser import EscposParser, UnknownCommandError, parse_all
from devices.sim.escpos_render import render_commands
from devices.sim.printer import main as printer_cli
from tests.shared_data import ESCPOS_DIR, REPO_ROOT, require_shared

# With the data absent one placeholder parameter remains, so each test skips (or fails under
# CI) with a reason naming the folder instead of pytest's bare "empty parameter set".
SAMPLE_NAMES = sorted(path.stem for path in ESCPOS_DIR.glob("*.bin")) or ["shared-data-absent"]


def sample_file(name: str) -> Path:
    return require_shared(ESCPOS_DIR) / f"{name}.bin"


def test_the_sample_jobs_are_there() -> None:
    samples = list(require_shared(ESCPOS_DIR).glob("*.bin"))
    assert len(samples) >= 9, f"expected the escpos-php sample jobs in {ESCPOS_DIR}"


@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_sample_parses_and_renders_a_printed_page(name: str, tmp_path: Path) -> None:
    sample = sample_file(name)
    out = tmp_path / f"{sample.stem}.png"
    assert printer_cli(["render", str(sample), "--out", str(out)]) == 0
    pixels = np.asarray(Image.open(out).convert("L"))
    assert pixels.shape[1] == 576
    assert (pixels < 128).mean() > 0.002, "the page is blank"


@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_sample_parses_the_same_in_small_chunks(name: str) -> None:
    data = sample_file(name).read_bytes()
    parser = EscposParser()
    chunked = [cmd for i in range(0, len(data), 5) for cmd in parser.feed(data[i : i + 5])] + parser.finish()
    whole = parse_all(data)
    # text runs may be split differently; everything else is identical
    assert [c for c in chunked if c.name != "text"] == [c for c in whole if c.name != "text"]
    assert b"".join(c.data for c in chunked if c.name == "text") == b"".join(c.data for c in whole if c.name == "text")


def test_native_qr_and_pdf417_samples_draw_scannable_symbols() -> None:
    qr_page = render_commands(parse_all(sample_file("qr-code").read_bytes()))
    top = qr_page.image.crop((0, 0, 576, 200))
    assert [r.text for r in zxingcpp.read_barcodes(top)] == ["Testing 123"]
    pdf_page = render_commands(parse_all(sample_file("pdf417-code").read_bytes()))
    decoded = zxingcpp.read_barcodes(
        pdf_page.image.crop((0, 0, 576, 240)), formats=zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.PDF417)
    )
    assert {r.text for r in decoded} == {"Testing 123"}


def test_barcode_sample_draws_readable_code39() -> None:
    page = render_commands(parse_all(sample_file("barcode").read_bytes()))
    assert ("CODE39", "ABC") in page.barcodes
    found = zxingcpp.read_barcodes(
        page.image.crop((0, 0, 576, 400)), formats=zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.Code39)
    )
    assert "ABC" in [r.text for r in found]


def test_code_page_text_is_decoded_with_the_selected_table() -> None:
    # ESC t 17 is CP866 (Cyrillic): 0x8F is "П"; ESC t 16 is CP1252: 0x80 is "€"
    page = render_commands(parse_all(b"\x1b@\x1bt\x11\x8f\n\x1bt\x10\x80\n"))
    assert page.texts == ["П", "€"]


def test_unknown_command_names_offset_and_byte() -> None:
    with pytest.raises(UnknownCommandError) as err:
        parse_all(b"\x1b@Hello\n\x1b\x99\x00")
    assert err.value.offset == 8
    assert "1B 99" in str(err.value)


def test_render_command_line_rejects_an_unknown_command(tmp_path: Path) -> None:
    job = tmp_path / "bad.bin"
    job.write_bytes(b"\x1b@Hello\n\x1d\xee\x01")
    result = subprocess.run(
        [sys.executable, "-m", "devices.sim.printer", "render", str(job), "--out", str(tmp_path / "bad.png")],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "offset 8" in result.stderr and "1D EE" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "bad.png").exists()


def test_render_command_line_reports_a_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert printer_cli(["render", str(tmp_path / "none.bin"), "--out", str(tmp_path / "x.png")]) == 2
    assert "cannot read" in capsys.readouterr().err
