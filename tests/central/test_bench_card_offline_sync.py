"""The offline card debit sync benchmark's command line, at a tiny size: its table's invariants
(every debit recorded once, none lost, a second sending all duplicates), not its timings."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from bench.databases import POSTGRES_ENV
from tests.shared_data import REPO_ROOT

KINDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def run_bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bench.card_offline_sync", *args], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("kind", KINDS)
def test_a_queue_synced_in_batches_is_recorded_once_and_a_resend_is_all_duplicates(kind: str) -> None:
    if kind == "postgres" and not os.environ.get(POSTGRES_ENV):
        if os.environ.get("CI") == "true":
            pytest.fail(f"{POSTGRES_ENV} is not set: PostgreSQL tests must run in CI", pytrace=False)
        pytest.skip(f"{POSTGRES_ENV} not set (PostgreSQL tests run in CI)")
    result = run_bench("--debits", "30", "--per-card", "3", "--batch", "7", "--db", kind, "--json")
    assert result.returncode == 0, result.stderr
    (row,) = json.loads(result.stdout)["runs"]
    assert (row["db"], row["debits"], row["cards"], row["batches"]) == (kind, 30, 10, 5)
    assert row["unreachable_during_outage"] and row["recorded_before_sync"] == 0
    assert (row["accepted"], row["refused"], row["lost"]) == (30, 0, 0)  # every TAC the issuer's
    assert (row["ledger_rows"], row["ledger_visits"], row["visits_left"], row["cards_not_at_zero"]) == (30, 30, 0, 0)
    assert (row["resent_duplicates"], row["resent_accepted"], row["applied_twice"]) == (30, 0, 0)
    assert row["ledger_changed_by_resend"] is False


def test_the_table_names_each_invariant() -> None:
    result = run_bench("--debits", "4", "--per-card", "2", "--batch", "3")
    assert result.returncode == 0, result.stderr
    header = result.stdout.splitlines()[0].split()
    assert {"accepted", "refused", "lost", "resent_duplicates", "applied_twice"} <= set(header)
    assert result.stdout.splitlines()[1].split()[0] == "sqlite"


@pytest.mark.parametrize(("args", "message"), [
    (["--batch", "501"], "--batch must be 1 to 500"),
    (["--debits", "25", "--per-card", "10"], "multiple of --per-card"),
    (["--db", "mysql"], "--db"),
])
def test_bad_arguments_are_one_line_on_stderr(args: list[str], message: str) -> None:
    result = run_bench(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
