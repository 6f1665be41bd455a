"""The kiosk speaks HTTPS to the central and trusts only the certificate its config names.

The real central serves TLS (uvicorn) with a certificate from a private CA made here; the kiosk's
client verifies it against the CA file (central.ca_file) or a pinned fingerprint (central.cert_sha256).
A certificate it does not trust is a defined error (CentralUntrusted): the person sees "system
unavailable", the operator one log line. Before, the central spoke plain HTTP only.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from backend_client.client import CentralClient, RequestInfo
from backend_client.errors import CentralUnreachable, CentralUntrusted
from central.process import TlsFiles, free_port
from kiosk.flows.pickup import Step
from tests.integration.conftest import StartKiosk
from tests.integration.kiosk_rig import message_key
from tests.support.central_server import RunningCentral, running_central
from tests.support.tls import fingerprint_sha256, issue_server_cert, make_ca


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    folder = tmp_path_factory.mktemp("tls")
    return issue_server_cert(make_ca(folder / "ca", "Cinema Chain Private CA"), folder / "central")


@pytest.fixture(scope="module")
def other_ca(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA that did not sign the central's certificate (another chain's, or an attacker's)."""
    folder = tmp_path_factory.mktemp("other-ca")
    ca = make_ca(folder, "Someone Else's CA")
    issue_server_cert(ca, folder / "server")
    return ca.pem


@pytest.fixture(scope="module")
def tls_central(module_db_url: str, tls_files: TlsFiles,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCentral]:
    with running_central(module_db_url, tmp_path_factory.mktemp("tls-central"), tls=tls_files) as central:
        yield central


def client(central: RunningCentral, ca_file: str | None = None, cert_sha256: str | None = None) -> CentralClient:
    return CentralClient(central.base_url, central.kiosk_credential, timeout_s=5, retries=2, sleep=lambda _s: None,
                         ca_file=ca_file, cert_sha256=cert_sha256)


def test_the_central_serves_https_and_a_kiosk_with_the_private_ca_is_served(tls_central: RunningCentral,
                                                                           tls_files: TlsFiles) -> None:
    assert tls_central.base_url.startswith("https://127.0.0.1:")
    order = tls_central.demo["orders"]["single"]
    with client(tls_central, ca_file=str(tls_files.ca)) as kiosk:
        assert kiosk.hello().kiosk_id == tls_central.demo["kiosk_id"]
        assert kiosk.lookup_code(order["serial"], order["verification"]).order_id == order["order_id"]


def test_a_certificate_from_another_ca_is_not_trusted_and_not_retried(tls_central: RunningCentral,
                                                                      other_ca: Path) -> None:
    attempts: list[RequestInfo] = []
    with client(tls_central, ca_file=str(other_ca)) as kiosk:
        kiosk.observer = lambda request, _response: attempts.append(request)
        with pytest.raises(CentralUntrusted, match="certificate not trusted") as caught:
            kiosk.hello()
    assert isinstance(caught.value, CentralUnreachable)  # the flow's "system unavailable"
    assert attempts == []  # refused at the handshake: no request left the kiosk, none was repeated


def test_the_system_cas_do_not_trust_a_private_ca(tls_central: RunningCentral) -> None:
    with client(tls_central) as kiosk, pytest.raises(CentralUntrusted, match="certificate not trusted"):
        kiosk.hello()


def test_a_pinned_fingerprint_is_trusted_without_a_ca_and_a_wrong_pin_is_not(tls_central: RunningCentral,
                                                                             tls_files: TlsFiles) -> None:
    pin = fingerprint_sha256(tls_files.cert)
    with client(tls_central, cert_sha256=pin) as kiosk:
        assert kiosk.hello().cinema_id == tls_central.demo["cinema_id"]
    wrong = ("00:" * 32).rstrip(":")
    with client(tls_central, cert_sha256=wrong) as kiosk, \
            pytest.raises(CentralUntrusted, match="not the pinned certificate"):
        kiosk.hello()


def test_plain_http_to_a_tls_central_is_unreachable_not_untrusted(tls_central: RunningCentral) -> None:
    url = tls_central.base_url.replace("https://", "http://")
    with CentralClient(url, tls_central.kiosk_credential, timeout_s=5, retries=0) as kiosk, \
            pytest.raises(CentralUnreachable) as caught:
        kiosk.hello()
    assert not isinstance(caught.value, CentralUntrusted)


def test_a_kiosk_collects_over_https_with_its_ca_file(tls_central: RunningCentral, tls_files: TlsFiles,
                                                      start_kiosk: StartKiosk) -> None:
    order = tls_central.cli_json("create-order", "--showing", tls_central.demo["showings"]["soon"]["showing_id"],
                                 "--seats", "T1,T2")
    kiosk = start_kiosk(tls_central, settings={"central.ca_file": str(tls_files.ca)})
    assert kiosk.services.availability().central_reachable
    kiosk.pick_up(order)
    assert kiosk.flow.state.printed == 2
    assert len(kiosk.printer.jobs) == 2


def test_a_kiosk_that_does_not_trust_the_certificate_is_out_of_service_and_says_so_once(
        tls_central: RunningCentral, other_ca: Path, start_kiosk: StartKiosk,
        caplog: pytest.LogCaptureFixture) -> None:
    order = tls_central.demo["orders"]["ready_3"]
    with caplog.at_level(logging.INFO):
        kiosk = start_kiosk(tls_central, settings={"central.ca_file": str(other_ca)})
        for _ in range(3):  # the monitor's rounds: the operator's line is not repeated
            kiosk.services.monitor_round()
        availability = kiosk.services.availability()
        assert not availability.central_reachable and not availability.can_pick_up
        kiosk.look_up(order)
    assert kiosk.flow.state.step is Step.REFUSED
    assert message_key(kiosk.flow.state.refusal) == "refusal.offline"  # "system unavailable" on screen
    operator = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(operator) == 1, [r.getMessage() for r in operator]
    line = operator[0].getMessage()
    assert "certificate not trusted" in line and "central.ca_file" in line and "\n" not in line
    assert operator[0].exc_info is None  # a line, not a traceback


def test_the_central_refuses_plain_http_beyond_loopback(tmp_path: Path, tls_central: RunningCentral) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "central", "serve", "--db", tls_central.db_url, "--host", "0.0.0.0",
         "--port", str(free_port())],
        cwd=tmp_path, env=tls_central.env, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "central: refusing to serve plain HTTP on 0.0.0.0: kiosks send credentials and pickup codes; give "
        "--tls-cert and --tls-key (central/README.md), or listen on 127.0.0.1 behind a TLS proxy"
    ]




@pytest.mark.parametrize("swap", ["not-pem", "key-of-another-cert"])
def test_a_tls_file_that_is_not_a_certificate_and_its_key_stops_serve_in_one_line(
    tmp_path: Path, tls_central: RunningCentral, tls_files: TlsFiles, swap: str
) -> None:
    cert, key = tls_files.cert, tls_files.key
    if swap == "not-pem":
        cert = tmp_path / "central.pem"
        cert.write_text("this is not a certificate\n", encoding="utf-8")
    else:
        key = issue_server_cert(make_ca(tmp_path / "ca", "Another CA"), tmp_path / "other").key
    done = subprocess.run(
        [sys.executable, "-m", "central", "serve", "--db", tls_central.db_url, "--host", "0.0.0.0",
         "--port", str(free_port()), "--tls-cert", str(cert), "--tls-key", str(key)],
        cwd=tmp_path, env=tls_central.env, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, lines  # not "serving https://..." first, then OpenSSL's "[SSL] PEM lib"
    assert str(cert) in lines[0] and str(key) in lines[0] and "certificate" in lines[0]
