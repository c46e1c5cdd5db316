"""The simulator under load and under hostile bodies: backlog, read timeout, body cap, bad bodies.

Raw sockets make the requests no HTTP library would send (half a request, broken chunking); the
load test opens a fresh connection per request, which is what overflowed the old backlog of 5.
"""

from __future__ import annotations

import base64
import http.client
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import requests

from notifykit_exotel.client import ExotelClient
from notifykit_exotel.retry import RetryPolicy
from notifykit_exotel.simulator import ExotelSimulator, PortInUseError
from tests.simulator.support import SID, TOKEN, SessionFactory

AUTH = "Basic " + base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()
SEND = f"/v1/Accounts/{SID}/Sms/send.json"
FORM = "application/x-www-form-urlencoded"


def read_response(conn: socket.socket) -> bytes:
    """One whole HTTP response (headers and Content-Length body) from ``conn``."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        body += conn.recv(65536)
    return head + b"\r\n\r\n" + body


def raw_request(port: int, data: bytes, *, host: str = "127.0.0.1", timeout: float = 5) -> bytes:
    """Send ``data`` on a fresh connection and read until the server closes it."""
    with socket.create_connection((host, port), timeout=timeout) as conn:
        conn.sendall(data)
        chunks = []
        while True:
            chunk = conn.recv(65536)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)


def post_bytes(headers: dict[str, str], body: bytes, path: str = SEND) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", f"Authorization: {AUTH}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def test_50_concurrent_clients_x_20_sends_are_all_recorded_without_resets() -> None:
    clients, sends = 50, 20
    with ExotelSimulator(rate_limit=10**6) as sim:
        barrier = threading.Barrier(clients)
        errors: list[BaseException] = []
        statuses: list[int] = []
        lock = threading.Lock()

        def client(index: int) -> None:
            barrier.wait()
            for n in range(sends):
                # A new connection per request, so the accept queue must take the whole burst.
                conn = http.client.HTTPConnection("127.0.0.1", sim.port, timeout=30)
                try:
                    conn.request(
                        "POST",
                        SEND,
                        body=f"From=NK&To=98765{index:03d}{n:02d}&Body=x",
                        headers={"Authorization": AUTH, "Content-Type": FORM},
                    )
                    response = conn.getresponse()
                    response.read()
                    with lock:
                        statuses.append(response.status)
                except OSError as err:  # a reset, a refused or dropped connection
                    with lock:
                        errors.append(err)
                finally:
                    conn.close()

        threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - started
        assert errors == []
        assert statuses == [200] * (clients * sends)
        assert len(sim.requests) == clients * sends
        assert len(sim.messages) == clients * sends
        assert len(sim.requests_to("9876500000")) == 1
        assert elapsed < 60


def test_a_half_sent_request_is_cut_off_by_the_read_timeout() -> None:
    with ExotelSimulator(read_timeout=0.3) as sim:
        started = time.monotonic()
        # Headers promise 100 bytes; 3 arrive, then nothing.
        answer = raw_request(
            sim.port,
            post_bytes(
                {"Content-Type": "application/x-www-form-urlencoded", "Content-Length": "100"},
                b"From",
            ),
        )
        assert time.monotonic() - started < 4
        assert answer.startswith(b"HTTP/1.1 408 ")
        assert b"Connection: close" in answer
        assert sim.requests[0].status == 408
        # Half the headers, then nothing: the connection is closed without an answer.
        with socket.create_connection(("127.0.0.1", sim.port), timeout=5) as conn:
            conn.sendall(b"POST " + SEND.encode() + b" HTTP/1.1\r\nHost: x\r\n")
            assert conn.recv(1024) == b""
        # Meanwhile, and afterwards, the server answers others.
        ok = requests.get(
            f"{sim.base_url}/v1/Accounts/{SID}/Numbers/9876543210.json",
            auth=(SID, TOKEN),
            timeout=5,
        )
        assert ok.status_code == 200


def test_handler_threads_are_bounded_and_excess_connections_wait() -> None:
    with ExotelSimulator(max_connections=3, read_timeout=0.5) as sim:
        idle = [socket.create_connection(("127.0.0.1", sim.port), timeout=5) for _ in range(8)]
        try:
            deadline = time.monotonic() + 2
            while time.monotonic() < deadline:
                handlers = [t for t in threading.enumerate() if "_serve_connection" in t.name]
                if len(handlers) >= 3:
                    break
                time.sleep(0.01)
            assert len(handlers) == 3
            # The idle ones time out in turn; a real request queued behind them is answered.
            response = requests.get(
                f"{sim.base_url}/v1/Accounts/{SID}/Numbers/9876543210.json",
                auth=(SID, TOKEN),
                timeout=10,
            )
            assert response.status_code == 200
        finally:
            for conn in idle:
                conn.close()


def test_body_over_the_cap_is_413_and_the_connection_closes() -> None:
    with ExotelSimulator(max_body_bytes=1000) as sim:
        body = b"From=NK&To=9876543210&Body=" + b"x" * 2000
        answer = raw_request(
            sim.port,
            post_bytes(
                {
                    "Content-Type": "application/x-www-form-urlencoded",
                    "Content-Length": str(len(body)),
                },
                body,
            ),
        )
        assert answer.startswith(b"HTTP/1.1 413 ")
        assert b'"Status": 413' in answer
        chunked = raw_request(
            sim.port,
            post_bytes(
                {"Transfer-Encoding": "chunked"}, b"7d0\r\n" + b"x" * 2000 + b"\r\n0\r\n\r\n"
            ),
        )
        assert chunked.startswith(b"HTTP/1.1 413 ")
        assert sim.messages == {}
        assert [r.status for r in sim.requests] == [413, 413]
        # Within the cap all is well.
        ok = requests.post(
            sim.base_url + SEND,
            data={"From": "NK", "To": "9876543210", "Body": "x" * 900},
            auth=(SID, TOKEN),
            timeout=5,
        )
        assert ok.status_code == 200


def test_chunked_bodies_are_read_by_werkzeug(sim: ExotelSimulator) -> None:
    def pieces() -> Iterator[bytes]:
        yield b"From=NK&To=98765"
        yield b"43210&Body=chunk%20ed"

    response = requests.post(
        sim.base_url + SEND,
        data=pieces(),
        auth=(SID, TOKEN),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        timeout=5,
    )
    assert response.status_code == 200, response.text
    assert response.json()["SMSMessage"]["Body"] == "chunk ed"
    recorded = sim.last_request
    assert recorded is not None and recorded.header("Transfer-Encoding") == "chunked"


@pytest.mark.parametrize(
    ("headers", "body", "close"),
    [
        # Not UTF-8 after the form decoding.
        ({"Content-Type": "application/x-www-form-urlencoded"}, b"From=NK&Body=\xff\xfe", False),
        # Multipart without its boundary, and multipart cut off mid-part.
        ({"Content-Type": "multipart/form-data"}, b"--x\r\n", False),
        (
            {"Content-Type": "multipart/form-data; boundary=xx"},
            b'--xx\r\nContent-Disposition: form-data; name="From"\r\n\r\nNK',
            False,
        ),
        # A body whose framing cannot be trusted: the connection is closed after the 400.
        ({"Content-Length": "ten"}, b"", True),
    ],
    ids=["not-utf8", "no-boundary", "truncated-multipart", "bad-length"],
)
def test_undecodable_bodies_are_400_not_a_dropped_connection(
    sim: ExotelSimulator, headers: dict[str, str], body: bytes, close: bool
) -> None:
    if "Content-Length" not in headers:
        headers = {**headers, "Content-Length": str(len(body))}
    with socket.create_connection(("127.0.0.1", sim.port), timeout=5) as conn:
        conn.sendall(post_bytes(headers, body))
        answer = read_response(conn)
        assert answer.startswith(b"HTTP/1.1 400 "), answer
        assert b'"RestException"' in answer
        if not close:
            # The body was read whole, so the same connection serves the next request.
            conn.sendall(
                post_bytes({"Content-Length": "0", "Connection": "close"}, b"", path="/nowhere")
            )
            assert read_response(conn).startswith(b"HTTP/1.1 404 ")
    assert sim.messages == {}
    assert sim.requests[0].status == 400


def _multipart(part_type: str | None) -> bytes:
    header = f"Content-Type: {part_type}\r\n" if part_type else ""
    return (
        '--xx\r\nContent-Disposition: form-data; name="From"\r\n\r\nNK\r\n'
        '--xx\r\nContent-Disposition: form-data; name="To"\r\n\r\n+919876543210\r\n'
        f'--xx\r\nContent-Disposition: form-data; name="Body"\r\n{header}\r\nuryyb\r\n'
        "--xx--\r\n"
    ).encode()


@pytest.mark.parametrize(
    ("content_type", "part_type", "charset"),
    [
        ("multipart/form-data; boundary=xx; charset=nope", None, "nope"),
        ("multipart/form-data; boundary=xx", "text/plain; charset=nope", "nope"),
        # A codec Python knows, but not a text encoding: still no charset for a body.
        ("multipart/form-data; boundary=xx", "text/plain; charset=rot13", "rot13"),
        ("multipart/form-data; boundary=xx; charset=rot13", None, "rot13"),
    ],
    ids=["body-nope", "part-nope", "part-rot13", "body-rot13"],
)
def test_a_multipart_body_in_an_unknown_charset_is_400(
    sim: ExotelSimulator, content_type: str, part_type: str | None, charset: str
) -> None:
    body = _multipart(part_type)
    headers = {"Content-Type": content_type, "Content-Length": str(len(body))}
    with socket.create_connection(("127.0.0.1", sim.port), timeout=5) as conn:
        conn.sendall(post_bytes(headers, body))
        answer = read_response(conn)
        assert answer.startswith(b"HTTP/1.1 400 "), answer
        assert f"unknown charset '{charset}'".encode() in answer
        # The body was read whole: the connection serves the next request.
        conn.sendall(post_bytes({"Content-Length": "0", "Connection": "close"}, b"", "/nowhere"))
        assert read_response(conn).startswith(b"HTTP/1.1 404 ")
    assert sim.messages == {}


def test_a_multipart_part_in_a_known_charset_is_decoded_with_it(sim: ExotelSimulator) -> None:
    # werkzeug alone reads every charset outside a short list as UTF-8 (café € became "caf��").
    body = _multipart("text/plain; charset=windows-1252").replace(
        b"uryyb", "café €".encode("cp1252")
    )
    headers = {"Content-Type": "multipart/form-data; boundary=xx", "Content-Length": str(len(body))}
    answer = raw_request(sim.port, post_bytes({**headers, "Connection": "close"}, body))
    assert answer.startswith(b"HTTP/1.1 200 "), answer
    [message] = sim.messages.values()
    assert message["Body"] == "café €"


def test_malformed_chunking_is_400(sim: ExotelSimulator) -> None:
    answer = raw_request(
        sim.port, post_bytes({"Transfer-Encoding": "chunked"}, b"zz\r\nFrom=NK\r\n0\r\n\r\n")
    )
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert b"chunked request body is malformed" in answer


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _ipv6_loopback(), reason="this machine has no IPv6 loopback")
def test_ipv6_loopback_serves_clients(session_for: SessionFactory) -> None:
    with ExotelSimulator(host="::1") as sim:
        assert sim.base_url == f"http://[::1]:{sim.port}"
        api = session_for(sim)
        assert api.get("Numbers/9876543210.json").status_code == 200
        with ExotelClient(
            SID, TOKEN, base_url=sim.base_url, rate_limit=None, retry=RetryPolicy.none()
        ) as client:
            sent = client.send_sms("NKALRT", "+919876543210", "over IPv6")
        assert sim.messages[sent.sid]["Body"] == "over IPv6"


def test_a_port_in_use_is_refused_clearly() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(PortInUseError, match=f"port {port} on 127.0.0.1 is already in use"):
            ExotelSimulator(port=port).start()
    with ExotelSimulator() as first:
        second = ExotelSimulator(port=first.port)
        with pytest.raises(PortInUseError):
            second.start()
        assert not second.running


def test_wrong_host_is_refused_at_construction() -> None:
    with pytest.raises(ValueError, match=r"only listens on loopback \(127.0.0.1, ::1"):
        ExotelSimulator(host="192.0.2.1")


def test_the_simulator_repr_never_shows_the_token(sim: ExotelSimulator) -> None:
    assert TOKEN not in repr(sim)
