"""notifykit.fakeserver, the local server under every plugin's test fake: real HTTP to a minimal
subclass, each behaviour the plugins' fakes rely on (faults in turn, recording and waiting, a
held answer cut short by close, methods a fake does not take, a refused connection)."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest

from notifykit.fakeserver import FakeRequest, FakeServer, closed_url


@dataclass(frozen=True)
class Fault:
    status: int = 500
    delay: float = 0.0
    drop: bool = False
    times: int = 1


class Echo(FakeServer[bytes, Fault]):
    noun = "bodies"

    def _serve(self, request: FakeRequest) -> None:
        body = request.read_body()
        fault = self._next_fault()
        self._record(body)
        if fault is not None and (fault.drop or self._hold(fault.delay)):
            request.hang_up()
        elif fault is not None:
            request.answer(fault.status, {"error": "injected"}, {"Retry-After": "3"})
        else:
            request.answer(
                200, {"echo": body.decode(), "type": request.lowered_headers()["x-type"]}
            )


def post(fake: FakeServer[bytes, Fault], body: bytes, timeout: float = 5.0) -> tuple[int, dict]:
    connection = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=timeout)
    try:
        connection.request("POST", "/x", body=body, headers={"X-Type": "t"})
        answer = connection.getresponse()
        return answer.status, {"body": json.loads(answer.read()), **dict(answer.getheaders())}
    finally:
        connection.close()


def test_it_answers_records_and_plays_faults_in_turn() -> None:
    with Echo() as fake:
        assert fake.base_url == f"http://127.0.0.1:{fake.port}"
        fake.inject(Fault(503, times=2))
        fake.inject(Fault(429))
        seen = [post(fake, f"b{n}".encode()) for n in range(4)]
        assert [status for status, _ in seen] == [503, 503, 429, 200]
        assert seen[0][1]["Retry-After"] == "3"
        assert seen[3][1]["body"] == {"echo": "b3", "type": "t"}
        assert fake.wait_for(4) == [b"b0", b"b1", b"b2", b"b3"]
        assert repr(fake) == f"Echo({fake.base_url!r}, bodies=4)"


def test_wait_for_fails_after_its_deadline_saying_how_many_came() -> None:
    with Echo() as fake:
        post(fake, b"one")
        started = time.monotonic()
        with pytest.raises(AssertionError, match=r"1 bodies arrived within 0.2 s, not 2"):
            fake.wait_for(2, timeout=0.2)
        assert time.monotonic() - started < 2


def test_a_dropped_request_is_recorded_and_gets_no_answer() -> None:
    with Echo() as fake:
        fake.inject(Fault(drop=True))
        with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
            post(fake, b"lost")
        assert fake.wait_for(1) == [b"lost"]


def test_close_cuts_a_held_answer_short() -> None:
    fake = Echo()
    fake.inject(Fault(delay=30.0))
    failures: list[BaseException] = []

    def client() -> None:
        try:
            post(fake, b"slow", timeout=10.0)
        except BaseException as err:
            failures.append(err)

    thread = threading.Thread(target=client)
    thread.start()
    fake.wait_for(1)
    started = time.monotonic()
    fake.close()
    thread.join(10)
    assert not thread.is_alive() and time.monotonic() - started < 5
    assert failures, "the held request got no answer"
    fake.close()  # idempotent


def test_a_method_the_fake_does_not_take_is_501_and_never_reaches_it() -> None:
    with Echo() as fake:
        connection = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=5)
        connection.request("GET", "/x")
        assert connection.getresponse().status == 501
        connection.close()
        assert fake.wait_for(0) == []


def test_a_fake_not_started_listens_only_once_started() -> None:
    fake = Echo(start=False)
    try:
        with socket.create_connection(("127.0.0.1", fake.port), timeout=1):
            pass  # the port is bound (the backlog accepts) but nothing answers until start
        fake.start()
        assert post(fake, b"late")[0] == 200
    finally:
        fake.close()


def test_closed_url_refuses_connections() -> None:
    url = closed_url("/hook")
    parts = urlsplit(url)
    assert (parts.scheme, parts.hostname, parts.path) == ("http", "127.0.0.1", "/hook")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", parts.port or 0), timeout=1).close()
