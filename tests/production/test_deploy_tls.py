"""The documented recipe (deploy/make-central-cert.sh, openssl) makes files the central serves and
the kiosk trusts: as a CA file, or as the pinned fingerprint the script prints."""

from __future__ import annotations

import subprocess
from pathlib import Path

from backend_client.client import CentralClient
from central.process import TlsFiles
from tests.conftest import fresh_database
from tests.support.central_server import REPO_ROOT, running_central

SCRIPT = REPO_ROOT / "deploy" / "make-central-cert.sh"


def test_the_documented_certificate_recipe_serves_a_central_the_kiosk_trusts(tmp_path: Path) -> None:
    done = subprocess.run([str(SCRIPT), str(tmp_path / "tls"), "127.0.0.1", "localhost"], capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    fingerprint_line = done.stdout.strip().splitlines()[-1]
    assert fingerprint_line.startswith("sha256 Fingerprint=")
    folder = tmp_path / "tls"
    assert (folder / "central.key").stat().st_mode & 0o077 == 0 and (folder / "ca.key").stat().st_mode & 0o077 == 0
    files = TlsFiles(cert=folder / "central.crt", key=folder / "central.key", ca=folder / "ca.pem")
    with fresh_database("sqlite", tmp_path) as db_url, running_central(db_url, tmp_path, tls=files) as central:
        for ca_file, pin in ((str(files.ca), None), (None, fingerprint_line)):
            with CentralClient(central.base_url, central.kiosk_credential, retries=0, ca_file=ca_file,
                               cert_sha256=pin) as kiosk:
                assert kiosk.hello().kiosk_id == central.demo["kiosk_id"]
    # A renewed certificate keeps the CA: kiosks trusting the CA file need no change.
    ca_before = files.ca.read_bytes()
    again = subprocess.run([str(SCRIPT), str(folder), "127.0.0.1"], capture_output=True, text=True, timeout=60)
    assert again.returncode == 0 and files.ca.read_bytes() == ca_before
