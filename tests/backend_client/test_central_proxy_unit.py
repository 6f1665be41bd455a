"""Unit tests of the fault-injecting proxy in front of a scripted loopback server."""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest
import requests

from devices.sim.central_proxy import CentralProxy, Fault, FaultKind, main
from tests.backend_client.stub_http import StubServer, json_step

TIMEOUT = (2.0, 5.0)


@pytest.fixture
def upstream() -> Iterator[StubServer]:
    server = StubServer()
    server.script(json_step(200, {"hello": "kiosk"}))
    yield server
    server.stop()


@pytest.fixture
def proxy(upstream: StubServer) -> Iterator[CentralProxy]:
    running = CentralProxy(upstream.url).start()
    yield running
    running.stop()


def get(url: str, path: str = "/api/v1/hello") -> requests.Response:
    return requests.get(url + path, timeout=TIMEOUT)


def test_passes_requests_and_answers_through(proxy: CentralProxy, upstream: StubServer) -> None:
    response = requests.post(proxy.url + "/api/v1/claims", data=b'{"a":1}', timeout=TIMEOUT,
                             headers={"Idempotency-Key": "k1", "Content-Type": "application/json"})
    assert response.status_code == 200
    assert response.json() == {"hello": "kiosk"}
    assert upstream.seen[0].body == b'{"a":1}'
    assert upstream.seen[0].headers["Idempotency-Key"] == "k1"
    assert proxy.upstream_hits() == 1


def test_5xx_answers_without_asking_the_central(proxy: CentralProxy, upstream: StubServer) -> None:
    proxy.fail_next(FaultKind.ERROR_5XX, count=2, status=502)
    assert [get(proxy.url).status_code for _ in range(3)] == [502, 502, 200]
    assert len(upstream.seen) == 1


@pytest.mark.parametrize(
    ("kind", "reached"), [(FaultKind.DROP_BEFORE_UPSTREAM, 0), (FaultKind.DROP_AFTER_UPSTREAM, 1)]
)
def test_dropped_connection_before_or_after_the_central(
    proxy: CentralProxy, upstream: StubServer, kind: FaultKind, reached: int
) -> None:
    proxy.fail_next(kind)
    with pytest.raises(requests.ConnectionError):
        get(proxy.url)
    assert len(upstream.seen) == reached
    assert get(proxy.url).status_code == 200


def test_faults_apply_to_a_path_pattern_only(proxy: CentralProxy) -> None:
    proxy.add_fault(Fault(FaultKind.WRONG_SHAPE, count=None, path=r"/keys$"))
    assert get(proxy.url, "/api/v1/hello").json() == {"hello": "kiosk"}
    assert "hello" not in get(proxy.url, "/api/v1/keys").json()
    assert "hello" not in get(proxy.url, "/api/v1/keys").json()
    proxy.clear()
    assert get(proxy.url, "/api/v1/keys").json() == {"hello": "kiosk"}


def test_malformed_bodies(proxy: CentralProxy) -> None:
    proxy.fail_next(FaultKind.TRUNCATED_JSON)
    with pytest.raises(ValueError):
        get(proxy.url).json()
    proxy.fail_next(FaultKind.HTML_PAGE)
    page = get(proxy.url)
    assert page.headers["Content-Type"] == "text/html"
    assert page.text.startswith("<!DOCTYPE html>")


def test_delay_holds_the_answer(proxy: CentralProxy) -> None:
    proxy.fail_next(FaultKind.DELAY, delay_s=3.0)
    with pytest.raises(requests.Timeout):
        requests.get(proxy.url + "/api/v1/hello", timeout=(2.0, 0.3))


def test_down_refuses_connections_and_up_serves_again_on_the_same_port(proxy: CentralProxy) -> None:
    port = proxy.port
    with requests.Session() as session:
        assert session.get(proxy.url + "/x", timeout=TIMEOUT).status_code == 200  # a kept-alive connection
        proxy.set_down(True)
        assert proxy.is_down
        with pytest.raises(requests.ConnectionError):
            session.get(proxy.url + "/x", timeout=TIMEOUT)
    proxy.set_down(False)
    assert proxy.port == port
    assert get(proxy.url).status_code == 200


def test_stop_interrupts_a_delay_and_joins_every_thread(upstream: StubServer) -> None:
    proxy = CentralProxy(upstream.url).start()
    proxy.fail_next(FaultKind.DELAY, delay_s=60)
    failed = threading.Event()

    def slow_call() -> None:
        try:
            get(proxy.url)
        except requests.RequestException:
            failed.set()

    caller = threading.Thread(target=slow_call)
    before = set(threading.enumerate())
    caller.start()
    for _ in range(500):  # until the request has taken its fault, i.e. is inside the delay
        if not proxy.faults:
            break
        threading.Event().wait(0.01)
    proxy.stop()
    caller.join(10)
    assert failed.is_set()
    assert not [t for t in threading.enumerate() if t not in before and t.is_alive() and t is not caller]


def test_control_api_adds_faults_and_reports_status(proxy: CentralProxy) -> None:
    added = requests.post(proxy.url + "/_proxy/faults", timeout=TIMEOUT,
                          json={"kind": "error_5xx", "count": 1, "path": "/hello"})
    assert added.status_code == 200
    assert added.json()["faults"][0]["kind"] == "error_5xx"
    assert get(proxy.url).status_code == 503
    bad = requests.post(proxy.url + "/_proxy/faults", json={"kind": "explode"}, timeout=TIMEOUT)
    assert bad.status_code == 400
    assert "explode" in bad.json()["error"]
    status = requests.get(proxy.url + "/_proxy/status", timeout=TIMEOUT).json()
    assert status["requests"] == 1 and status["faults"] == []


def test_fault_specs_parse() -> None:
    fault = Fault.parse("delay:3@/claims$,delay=1.5,method=POST")
    assert (fault.kind, fault.count, fault.path, fault.delay_s, fault.method) == (
        FaultKind.DELAY, 3, "/claims$", 1.5, "POST")
    assert Fault.parse("error_5xx:*,status=500").count is None
    for bad in ["nonsense", "delay:0", "delay:x", "error_5xx@[", "drop_after_upstream,colour=red"]:
        with pytest.raises(ValueError):
            Fault.parse(bad)


def test_listens_on_loopback_only() -> None:
    with pytest.raises(ValueError, match="loopback"):
        CentralProxy("http://127.0.0.1:1", host="0.0.0.0")


def test_cli_rejects_a_bad_fault_with_a_message(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--upstream", "http://127.0.0.1:1", "--fault", "explode"]) == 2
    assert "central_proxy:" in capsys.readouterr().err


def test_cli_runs_and_forwards(upstream: StubServer) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "devices.sim.central_proxy", "--upstream", upstream.url, "--fault", "error_5xx"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        url = line.split(" on ", 1)[1].split(" ")[0]
        assert get(url).status_code == 503
        assert get(url).json() == {"hello": "kiosk"}
    finally:
        process.terminate()
        assert process.wait(10) == 0


def test_upstream_down_gives_502() -> None:
    gone = StubServer()
    gone.stop()
    with CentralProxy(gone.url) as proxy:
        connection = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=5)
        connection.request("GET", "/api/v1/hello")
        response = connection.getresponse()
        assert response.status == 502
        connection.close()
        assert json.loads(requests.get(proxy.url + "/_proxy/status", timeout=TIMEOUT).text)["upstream_hits"] == 0


def test_control_api_takes_the_proxy_down_and_stop_ends_it(upstream: StubServer) -> None:
    proxy = CentralProxy(upstream.url).start()
    try:
        answer = requests.post(proxy.url + "/_proxy/down", json={"seconds": 600}, timeout=TIMEOUT)
        assert answer.json() == {"down_for_s": 600}
        refused = False
        for _ in range(200):
            try:
                get(proxy.url)
            except requests.ConnectionError:
                refused = True
                break
            threading.Event().wait(0.02)
        assert refused
    finally:
        proxy.stop()
    assert proxy.is_down


def test_down_for_comes_back_on_the_same_port(proxy: CentralProxy) -> None:
    port = proxy.port
    proxy.down_for(0.5)
    outcomes: list[str] = []
    for _ in range(500):
        try:
            outcomes.append("answered" if get(proxy.url).status_code == 200 else "other")
        except requests.ConnectionError:
            outcomes.append("refused")
        if "refused" in outcomes and outcomes[-1] == "answered":
            break
        threading.Event().wait(0.02)
    assert "refused" in outcomes
    assert outcomes[-1] == "answered"
    assert proxy.port == port
