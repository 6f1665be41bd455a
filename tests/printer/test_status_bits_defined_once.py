"""The ESC/POS status bits are defined once (devices/escpos_status.py): the driver that reads the
answers and the virtual printer that gives them cannot drift apart."""

from __future__ import annotations

import ast
import re

from devices import escpos_status
from devices.printer import decode_status
from devices.printer_api import PaperLevel
from tests.shared_data import REPO_ROOT

STATUS_NAME = re.compile(r"^(EOT\d?_|GSR_|DLE_EOT$|GS_R_PAPER$|STATUS_FIXED$)")


def test_no_other_module_defines_status_bits() -> None:
    home = REPO_ROOT / "devices" / "escpos_status.py"
    offenders = []
    for path in sorted((REPO_ROOT / "devices").rglob("*.py")) + sorted((REPO_ROOT / "kiosk").rglob("*.py")):
        if path == home:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets = node.targets if isinstance(node, ast.Assign) else []
            for target in targets:
                names = target.elts if isinstance(target, ast.Tuple) else [target]
                offenders += [f"{path.relative_to(REPO_ROOT)}: {n.id}" for n in names
                              if isinstance(n, ast.Name) and STATUS_NAME.match(n.id)]
    assert offenders == []


def test_the_driver_reads_what_the_bits_say() -> None:
    fixed = escpos_status.EOT_FIXED_VALUE
    cover = decode_status(fixed, fixed | escpos_status.EOT2_COVER_OPEN, fixed)
    assert cover.cover_open and cover.online
    out = decode_status(fixed, fixed, fixed | escpos_status.EOT4_PAPER_END)
    assert out.paper is PaperLevel.OUT
