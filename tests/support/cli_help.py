"""Find what an argparse `--help` page lists without a word of help."""

from __future__ import annotations

import itertools
import re

_GAP = re.compile(r"\S\s{2,}\S")  # argparse puts two or more spaces between an option and its help


def entries_without_help(help_text: str) -> list[str]:
    """Options, arguments and subcommands shown with no help (a long one has it on the next, deeper line)."""
    lines = [*help_text.splitlines(), ""]
    bare = []
    in_list = False
    for line, after in itertools.pairwise(lines):
        if line.endswith(":") and not line.startswith(" "):  # "options:", "positional arguments:"
            in_list = True
            continue
        # Entries start at indent 2 (options, arguments) or 4 (subcommands); deeper lines are help.
        if not in_list or _indent(line) not in (2, 4) or _GAP.search(line):
            continue
        if _indent(after) <= _indent(line):
            bare.append(line.strip())
    return bare


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip()) if line.strip() else 0
