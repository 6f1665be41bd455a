"""Start the real central in a subprocess for integration tests (over real HTTP, on a real DB).

    central = start_central(db_url, tmp_path)          # or: with running_central(db_url, tmp_path) as central:
    central.base_url, central.kiosk_credential, central.demo["orders"]["ready"]["serial"]
    central.cli("create-order", "--showing", "show-demo-soon", "--seats", "A1")
    central.advance_clock(121)          # needs test_hooks=True (the default)
    central.claim_grant(order_id)       # what a lookup would grant the demo kiosk, for direct claims
    central.restart(); central.stop()

``tls=TlsFiles(cert, key, ca)`` serves HTTPS instead (``base_url`` is https://, ``verify`` the CA
file); the default stays plain HTTP on 127.0.0.1.

Built on central.process (which the demo launcher uses too), plus the test hooks.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import requests

from central.config import Settings
from central.process import REPO_ROOT, CentralProcess, CentralStartError, TlsFiles, free_port
from central.secret_store import ClaimGrants, CodeHasher

__all__ = ["REPO_ROOT", "CentralStartError", "RunningCentral", "TlsFiles", "free_port", "running_central",
           "start_central"]
HOOK_TIMEOUT_S = 10


class RunningCentral(CentralProcess):
    """A central subprocess with the test hooks' controls."""

    def advance_clock(self, seconds: float) -> None:
        """Move the server's clock forward (lease expiry, lockouts) without waiting."""
        answer = requests.post(f"{self.base_url}/test/clock/advance", json={"seconds": seconds},
                               timeout=HOOK_TIMEOUT_S, verify=self.verify)
        answer.raise_for_status()

    def server_now(self) -> datetime:
        """The server's clock (moved by advance_clock); the wall clock without the test hooks."""
        if not self.test_hooks:
            return datetime.now(UTC)
        answer = requests.get(f"{self.base_url}/test/clock", timeout=HOOK_TIMEOUT_S, verify=self.verify)
        answer.raise_for_status()
        return datetime.fromisoformat(answer.json()["now"])

    def claim_grant(self, order_id: str, credential: str | None = None) -> str:
        """The claim grant this central's lookup would give the kiosk (default: the demo kiosk) now.

        For tests that claim an order the kiosk could not look up at that moment (another kiosk
        holds it, it is refunded, ...): they test the claim's own rules, not the grant's.
        """
        kiosk_id = (credential or self.kiosk_credential).partition(".")[0]
        settings = Settings(
            secrets_dir=Path(self.env["CENTRAL_SECRETS_DIR"]),
            code_secret=self.env.get("CENTRAL_CODE_SECRET") or None,
            claim_grant_seconds=int(self.env.get("CENTRAL_CLAIM_GRANT_SECONDS") or Settings.claim_grant_seconds),
        )
        return ClaimGrants(CodeHasher(settings), settings).issue(kiosk_id, order_id, self.server_now())

    def inject_faults(
        self, count: int = 1, status: int | None = 503, delay_s: float = 0, malformed: bool = False
    ) -> None:
        """The next `count` kiosk API answers are delayed, get `status`, or a body that is not JSON."""
        plan = {"count": count, "status": status, "delay_s": delay_s, "malformed": malformed}
        requests.post(f"{self.base_url}/test/faults", json=plan, timeout=HOOK_TIMEOUT_S,
                      verify=self.verify).raise_for_status()


def start_central(
    db_url: str, tmp_path: Path, test_hooks: bool = True, env: dict[str, str] | None = None,
    tls: TlsFiles | None = None,
) -> RunningCentral:
    """Make its secrets, migrate, load the demo data and start `python -m central serve` on a free port.

    ``env`` adds settings (e.g. CENTRAL_SERIAL_MAX_FAILURES) for this central and its CLI;
    ``tls`` serves HTTPS with those files (default: plain HTTP on 127.0.0.1).
    """
    central = RunningCentral(db_url, tmp_path / "central", test_hooks=test_hooks, env=env, tls=tls)
    central.init_secrets()
    central.load_demo_data()
    central.start()
    return central


@contextmanager
def running_central(
    db_url: str, tmp_path: Path, test_hooks: bool = True, env: dict[str, str] | None = None,
    tls: TlsFiles | None = None,
) -> Iterator[RunningCentral]:
    """:func:`start_central`, stopped when the block ends, however it ends."""
    central = start_central(db_url, tmp_path, test_hooks=test_hooks, env=env, tls=tls)
    try:
        yield central
    finally:
        central.stop()
