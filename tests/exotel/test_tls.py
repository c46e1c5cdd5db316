"""TLS failures and the POST retry rule, over real HTTPS in front of the simulator.

A small TLS front (a self-signed certificate for 127.0.0.1, in ``tls/``, made for these tests
only) forwards each request to the simulator, so the simulator records what reached "Exotel".
``garble`` makes the front answer with bytes that are not TLS after forwarding: the client then
sees an SSL error although Exotel already has the request.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from notifykit_exotel import ExotelClient, ExotelConnectionError, RetryPolicy
from notifykit_exotel.simulator import ExotelSimulator

SID = "ACsim"  # as in conftest.py
TOKEN = "sim-token-s3cr3t"
TO = "+919876543210"
CERT = Path(__file__).parent / "tls" / "localhost-cert.pem"
KEY = Path(__file__).parent / "tls" / "localhost-key.pem"


class TlsFront:
    """HTTPS on 127.0.0.1 that forwards one request per connection to the simulator."""

    def __init__(self, sim: ExotelSimulator) -> None:
        self.sim = sim
        self.garble = False
        self._context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._context.load_cert_chain(CERT, KEY)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def base_url(self) -> str:
        return f"https://127.0.0.1:{self._listener.getsockname()[1]}"

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() below (Linux)
        self._listener.close()
        self._thread.join(5)

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return  # closed
            try:
                self._one(conn)
            except (OSError, ssl.SSLError):
                pass  # the client hung up or refused the certificate
            finally:
                conn.close()

    def _one(self, conn: socket.socket) -> None:
        with self._context.wrap_socket(conn, server_side=True) as tls:
            request = _read_request(tls)
            upstream = socket.create_connection((self.sim.host, self.sim.port))
            with upstream:
                upstream.sendall(request)
                response = http.client.HTTPResponse(upstream)
                response.begin()
                status, headers, body = response.status, response.getheaders(), response.read()
            if self.garble:
                # Plain bytes on the raw socket, where the client expects a TLS record.
                with socket.socket(fileno=os.dup(tls.fileno())) as raw:
                    raw.sendall(b"HTTP/1.1 200 OK\r\n\r\nnot TLS")
                return
            head = f"HTTP/1.1 {status} X\r\n" + "".join(
                f"{k}: {v}\r\n" for k, v in headers if k.lower() != "connection"
            )
            tls.sendall(head.encode() + b"Connection: close\r\n\r\n" + body)


def _read_request(sock: ssl.SSLSocket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise OSError("client closed before sending a request")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


@pytest.fixture
def front(sim: ExotelSimulator) -> Iterator[TlsFront]:
    tls = TlsFront(sim)
    yield tls
    tls.close()


def _client(front: TlsFront, *, trust: bool, sleeps: list[float]) -> ExotelClient:
    session = requests.Session()
    session.trust_env = False  # REQUESTS_CA_BUNDLE in the environment would override verify
    session.verify = str(CERT) if trust else True
    policy = RetryPolicy(max_retries=2, initial_delay=0.0, sleep=sleeps.append)
    return ExotelClient(SID, TOKEN, base_url=front.base_url, session=session, retry=policy)


def test_sms_over_https_through_the_front(front: TlsFront, sim: ExotelSimulator) -> None:
    sleeps: list[float] = []
    with _client(front, trust=True, sleeps=sleeps) as client:
        sms = client.send_sms("NKALRT", TO, "hello")
    assert sms.sid in sim.messages
    assert sleeps == []


def test_a_tls_error_after_the_post_was_forwarded_is_not_retried(
    front: TlsFront, sim: ExotelSimulator
) -> None:
    """The SMS reached Exotel; only the answer was garbled. Retrying would send it again (the
    client used to treat every SSL error as "never sent" and sent it three times)."""
    front.garble = True
    sleeps: list[float] = []
    with _client(front, trust=True, sleeps=sleeps) as client:
        with pytest.raises(ExotelConnectionError) as info:
            client.send_sms("NKALRT", TO, "hello")
    assert info.value.maybe_sent
    assert "may or may not have been processed" in str(info.value)
    assert len(sim.messages) == 1
    assert len(sim.requests) == 1
    assert sleeps == []


def test_a_tls_error_after_a_get_is_retried(front: TlsFront, sim: ExotelSimulator) -> None:
    front.garble = True
    sleeps: list[float] = []
    with _client(front, trust=True, sleeps=sleeps) as client:
        with pytest.raises(ExotelConnectionError) as info:
            client.sms_details("f" * 32)
    assert not info.value.maybe_sent
    assert len(sim.requests) == 3  # 1 + 2 retries: a GET has no side effects
    assert len(sleeps) == 2


def test_a_rejected_certificate_means_nothing_was_sent(
    front: TlsFront, sim: ExotelSimulator
) -> None:
    sleeps: list[float] = []
    with _client(front, trust=False, sleeps=sleeps) as client:
        with pytest.raises(ExotelConnectionError) as info:
            client.send_sms("NKALRT", TO, "hello")
    assert not info.value.maybe_sent  # the handshake failed: the request was never written
    assert "CERTIFICATE_VERIFY_FAILED" in str(info.value)
    assert sim.requests == []
    assert len(sleeps) == 2  # provably unsent, so the POST may be retried


# -- the same through the client's own transport (urllib3), the CA bundle from the environment ---


def _own_client(
    front: TlsFront, monkeypatch: pytest.MonkeyPatch, *, trust: bool, sleeps: list[float]
) -> ExotelClient:
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE"):
        monkeypatch.delenv(name, raising=False)
    for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    if trust:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(CERT))
    policy = RetryPolicy(max_retries=2, initial_delay=0.0, sleep=sleeps.append)
    return ExotelClient(SID, TOKEN, base_url=front.base_url, retry=policy, rate_limit=None)


def test_own_transport_sends_over_https_through_the_front(
    front: TlsFront, sim: ExotelSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    sleeps: list[float] = []
    with _own_client(front, monkeypatch, trust=True, sleeps=sleeps) as client:
        sms = client.send_sms("NKALRT", TO, "hello")
    assert sms.sid in sim.messages
    assert sleeps == []


def test_own_transport_never_retries_a_post_whose_answer_was_garbled(
    front: TlsFront, sim: ExotelSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    front.garble = True
    sleeps: list[float] = []
    with _own_client(front, monkeypatch, trust=True, sleeps=sleeps) as client:
        with pytest.raises(ExotelConnectionError) as info:
            client.send_sms("NKALRT", TO, "hello")
    assert info.value.maybe_sent
    assert len(sim.messages) == 1 and len(sim.requests) == 1
    assert sleeps == []


def test_own_transport_retries_a_get_whose_answer_was_garbled(
    front: TlsFront, sim: ExotelSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    front.garble = True
    sleeps: list[float] = []
    with _own_client(front, monkeypatch, trust=True, sleeps=sleeps) as client:
        with pytest.raises(ExotelConnectionError) as info:
            client.sms_details("f" * 32)
    assert not info.value.maybe_sent
    assert len(sim.requests) == 3 and len(sleeps) == 2


def test_own_transport_treats_a_rejected_certificate_as_unsent(
    front: TlsFront, sim: ExotelSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    sleeps: list[float] = []
    with _own_client(front, monkeypatch, trust=False, sleeps=sleeps) as client:
        with pytest.raises(ExotelConnectionError) as info:
            client.send_sms("NKALRT", TO, "hello")
    assert not info.value.maybe_sent
    assert "CERTIFICATE_VERIFY_FAILED" in str(info.value)
    assert sim.requests == [] and len(sleeps) == 2
