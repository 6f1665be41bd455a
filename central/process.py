"""Run the central as a separate process: for the demo launcher and the integration tests.

    central = launch_central(db_url, workdir)      # secrets, migrate, demo data, serve on a free port
    central.base_url, central.kiosk_credential_file, central.demo["orders"]
    central.cli("create-order", "--showing", "show-demo-soon", "--seats", "A1")
    central.restart(); central.stop()

The central keeps its secrets under ``workdir/secrets`` (made by an explicit ``init-secrets``)
and logs to ``workdir/central.log``. With ``tls=TlsFiles(...)`` it serves HTTPS on 127.0.0.1
with that certificate, and ``base_url`` is ``https://``.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from backend_client.wire import Routes

REPO_ROOT = Path(__file__).resolve().parents[1]
READY_TIMEOUT_S = 30.0
CLI_TIMEOUT_S = 60.0


class CentralStartError(RuntimeError):
    """The central did not come up; the message carries the end of its log."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class TlsFiles:
    """What the central serves HTTPS with, and the CA file a client verifies it against."""

    cert: Path  # PEM certificate (chain) for 127.0.0.1
    key: Path  # its PEM private key
    ca: Path  # PEM of the CA that signed it


class CentralProcess:
    def __init__(
        self,
        db_url: str,
        workdir: Path,
        port: int | None = None,
        test_hooks: bool = False,
        env: dict[str, str] | None = None,
        tls: TlsFiles | None = None,
    ) -> None:
        self.db_url = db_url
        self.workdir = workdir = workdir.resolve()  # the secrets folder must be an absolute path
        self.port = port or free_port()
        self.test_hooks = test_hooks
        self.tls = tls
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
            "CENTRAL_SECRETS_DIR": str(workdir / "secrets"),
            "PYTHONUNBUFFERED": "1",
            # The SMS simulator: recovery's codes land in a file the tests and the demo read
            # (central.sms.read_inbox / latest_code); env may choose otherwise.
            "CENTRAL_SMS_GATEWAY": "spool",
            "CENTRAL_SMS_SPOOL": str(workdir / "sms-spool.jsonl"),
            **(env or {}),
        }
        self.env.pop("CENTRAL_DB_URL", None)  # the --db given here wins
        self.kiosk_credential_file = workdir / "kiosk.credential"
        self.kiosk_credential = ""
        self.demo: dict[str, Any] = {}
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    @property
    def verify(self) -> str | bool:
        """What a requests call to this central verifies its certificate with."""
        return str(self.tls.ca) if self.tls else True

    @property
    def sms_spool(self) -> Path | None:
        """The SMS simulator's file (None when this central has no spool gateway)."""
        if self.env.get("CENTRAL_SMS_GATEWAY") != "spool" or not self.env.get("CENTRAL_SMS_SPOOL"):
            return None
        return Path(self.env["CENTRAL_SMS_SPOOL"])

    @property
    def log_path(self) -> Path:
        return self.workdir / "central.log"

    def cli(self, *args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
        """Run `python -m central ARGS --db <this db>` with this central's secrets."""
        command = [sys.executable, "-m", "central", *args]
        if "--db" not in args and args[:1] != ("init-secrets",):
            command += ["--db", self.db_url]
        return subprocess.run(
            command, cwd=self.workdir, env=self.env, capture_output=True, text=True, timeout=CLI_TIMEOUT_S, check=check
        )

    def cli_json(self, *args: str) -> Any:
        """Run a CLI command that must succeed and return its JSON output."""
        done = self.cli(*args)
        if done.returncode != 0:
            raise CentralStartError(f"central {' '.join(args)} failed: {done.stderr.strip()}")
        return json.loads(done.stdout)

    def init_secrets(self) -> dict[str, Any]:
        """Make this central's keys (kept when they exist): a central never makes them by itself."""
        return dict(self.cli_json("init-secrets"))

    def load_demo_data(self, face_image: Path | None = None) -> dict[str, Any]:
        """Load the demo data; ``face_image`` enrols the demo recovery account's face from that photo."""
        extra = ("--face-image", str(face_image)) if face_image is not None else ()
        self.demo = self.cli_json("demo-data", "--kiosk-credential-out", str(self.kiosk_credential_file), *extra)
        self.kiosk_credential = self.kiosk_credential_file.read_text(encoding="ascii").strip()
        return self.demo

    def auth(self, credential: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {credential or self.kiosk_credential}"}

    def start(self) -> None:
        command = [sys.executable, "-m", "central", "serve", "--db", self.db_url, "--port", str(self.port)]
        if self.test_hooks:
            command.append("--test-hooks")
        if self.tls is not None:
            command += ["--tls-cert", str(self.tls.cert), "--tls-key", str(self.tls.key)]
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(command, cwd=self.workdir, env=self.env, stdout=log, stderr=log)
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise CentralStartError(f"central exited with {self._process.returncode}:\n{self.log_tail()}")
            try:
                answer = requests.get(self.base_url + Routes.HELLO, headers=self.auth(), timeout=2, verify=self.verify)
            except requests.RequestException:
                time.sleep(0.1)
                continue
            # Any answer means the server is up; 401 only when no credential was loaded yet.
            if answer.status_code == 200 or (answer.status_code == 401 and not self.kiosk_credential):
                return
            self.stop()
            raise CentralStartError(f"central answered hello with {answer.status_code}: {answer.text[:500]}")
        self.stop()
        raise CentralStartError(f"central not ready after {READY_TIMEOUT_S} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)

    def restart(self) -> None:
        """Stop and start again on the same port and database: the state survives."""
        self.stop()
        self.start()


def launch_central(
    db_url: str, workdir: Path, port: int | None = None, test_hooks: bool = False, env: dict[str, str] | None = None,
    face_image: Path | None = None,
) -> CentralProcess:
    """Make the secrets, migrate, load the demo data (enrolling the demo kiosk, and the demo recovery
    account's face from ``face_image``), then serve."""
    central = CentralProcess(db_url, workdir, port=port, test_hooks=test_hooks, env=env)
    central.init_secrets()
    central.load_demo_data(face_image)
    central.start()
    return central
