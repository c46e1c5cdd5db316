"""The embedded server of ``notifykit serve`` (issue 19), as a real process on real sockets:
timeouts on every connection, bounded threads, room at the connection limit and past the
descriptor limit, HTTP/1.1 with chunked bodies, 414/431/413 for what is too large."""

from __future__ import annotations

import errno
import logging
import os
import resource
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest

from notifykit import Notifier
from notifykit.report import DeliveryState
from notifykit.server.embedded import FD_RESERVE, StatusServer
from notifykit_exotel.simulator import ExotelSimulator
from tests.delivery.conftest import PHONES
from tests.server.support import (
    Serve,
    closed_by_peer,
    cpu_seconds,
    exchange,
    free_port,
    raw_request,
    read_response,
    serve_config,
    threads_of,
    wait_until,
)


@pytest.fixture
def served(
    tmp_path: Path, sim: ExotelSimulator, make_kit: Callable[..., Notifier]
) -> Iterator[tuple[Notifier, Serve]]:
    """``notifykit serve`` with short timeouts (idle 1 s, a request 1.5 s), 4 threads."""
    port = free_port()
    config = serve_config(
        tmp_path, sim, port, threads=4, idle_timeout="1s", request_timeout="1500ms"
    )
    server = Serve(config, port, tmp=tmp_path)
    try:
        yield make_kit(config), server
    finally:
        server.stop()


def _callback(kit: Notifier, sim: ExotelSimulator) -> tuple[str, str, str]:
    """Send one SMS: ``(notification id, callback path, Sid)``."""
    report = kit.notify("db.down", data={"host": "db1"}, to=PHONES[0])
    url = sim.requests[-1].form["StatusCallback"][0]
    return report.id, urlsplit(url).path, str(report.deliveries[0].provider_id)


def _form(sid: str, status: str = "sent") -> bytes:
    return urlencode({"SmsSid": sid, "Status": status}).encode()


def _state(kit: Notifier, notification_id: str) -> DeliveryState:
    [delivery] = kit.report(notification_id).deliveries
    return delivery.state


FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def test_a_chunked_callback_is_answered_and_applied(served, sim):
    kit, server = served
    nid, path, sid = _callback(kit, sim)
    body = _form(sid)
    chunked = (
        b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (body[:7], body[7:]))
        + b"0\r\n\r\n"
    )
    request = raw_request("POST", path, {**FORM, "Transfer-Encoding": "chunked"}, chunked)
    status, _, answer = exchange(server.port, request)
    assert status == "HTTP/1.1 200 OK", (status, answer)
    assert _state(kit, nid) is DeliveryState.DELIVERED


def test_http_1_1_keeps_the_connection_for_the_next_request(served):
    _, server = served
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        for _ in range(3):
            sock.sendall(raw_request("GET", "/healthz"))
            status, headers, body = read_response(sock)
            assert status == "HTTP/1.1 200 OK" and body == b'{"ok": true}'
            assert headers.get("connection", "keep-alive").lower() != "close"


def test_a_70000_character_request_line_is_414_without_a_traceback(served):
    _, server = served
    status, _, _ = exchange(server.port, raw_request("GET", "/status/" + "A" * 70_000))
    assert status.split()[1] == "414", status
    status, _, _ = exchange(server.port, raw_request("GET", "/healthz"))
    assert status == "HTTP/1.1 200 OK"  # and the server is fine
    assert "Traceback" not in server.log()


def test_oversized_headers_are_431(served):
    _, server = served
    headers = {f"X-Filler-{i}": "x" * 1000 for i in range(40)}  # 40 kB of headers
    status, _, _ = exchange(server.port, raw_request("GET", "/healthz", headers))
    assert status.split()[1] == "431", status


def test_a_chunked_body_over_1_mib_is_413(served, sim):
    kit, server = served
    _, path, _ = _callback(kit, sim)
    piece = b"x" * 65536
    body = b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for _ in range(17)) + b"0\r\n\r\n"
    request = raw_request("POST", path, {**FORM, "Transfer-Encoding": "chunked"}, body)
    status, _, _ = exchange(server.port, request)
    assert status.split()[1] == "413", status


def test_idle_and_half_open_connections_are_closed_and_hold_no_thread(served, sim):
    """300 connections that send nothing (old server: 300 threads held forever)."""
    kit, server = served
    nid, path, sid = _callback(kit, sim)
    idle = [socket.create_connection(("127.0.0.1", server.port), timeout=5) for _ in range(300)]
    try:
        assert threads_of(server.process.pid) <= 4 + 4  # the pool, the loop, the runtime's
        status, _, _ = exchange(server.port, raw_request("POST", path, FORM, _form(sid)))
        assert status == "HTTP/1.1 200 OK" and _state(kit, nid) is DeliveryState.DELIVERED
        deadline = time.monotonic() + 5  # idle_timeout 1 s
        assert all(closed_by_peer(s, max(0.01, deadline - time.monotonic())) for s in idle)
    finally:
        for s in idle:
            s.close()


def test_a_client_trickling_its_request_is_closed_at_request_timeout(served):
    """One byte every 0.2 s keeps the connection active (idle_timeout never fires), but the
    request must arrive whole within request_timeout (1.5 s)."""
    _, server = served
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        started = time.monotonic()
        closed = False
        for byte in raw_request("GET", "/healthz" + "x" * 200):
            try:
                sock.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            if closed_by_peer(sock, 0.2):
                closed = True
                break
            assert time.monotonic() - started < 5, "still open after 5 s"
        took = time.monotonic() - started
    assert closed and 1.4 < took < 4, took


def _raise_own_limit(wanted: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= wanted:
        return
    if hard != resource.RLIM_INFINITY and hard < wanted:
        pytest.skip(f"this test needs {wanted} descriptors; the hard limit is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


@pytest.mark.parametrize("connection_limit", [None, 5000], ids=["default", "over-ulimit"])
def test_1100_idle_connections_past_a_1024_descriptor_limit(
    tmp_path, sim, make_kit, connection_limit
):
    """Issue 19: one client's 1,100 idle connections with ``ulimit -n 1024`` stopped every
    answer while the accept loop spun at 94% of a core, and nothing was logged. With the
    default limit (100 connections) and with one the descriptors cannot hold (5,000: lowered
    to what ``ulimit -n`` leaves, so the server runs right up to its descriptor limit)."""
    _raise_own_limit(1500)
    port = free_port()
    limits = {} if connection_limit is None else {"connection_limit": connection_limit}
    config = serve_config(tmp_path, sim, port, **limits)  # idle 30 s: they stay
    server = Serve(config, port, nofile=1024, tmp=tmp_path)
    if connection_limit is not None:
        room = 1024 - FD_RESERVE
        assert (
            f"server.connection_limit {connection_limit} does not fit the descriptor limit "
            f"(ulimit -n 1024): using {room}" in server.log()
        )
    hog: list[socket.socket] = []
    try:
        kit = make_kit(config)
        nid, path, sid = _callback(kit, sim)
        for _ in range(1100):
            s = socket.socket()
            s.bind(("127.0.0.2", 0))  # one client...
            s.settimeout(5)
            s.connect(("127.0.0.1", port))
            hog.append(s)
        started = time.monotonic()  # ...and another one's callback
        status, _, _ = exchange(port, raw_request("POST", path, FORM, _form(sid)), timeout=5)
        took = time.monotonic() - started
        assert status == "HTTP/1.1 200 OK" and took < 1.0, (status, took)
        assert _state(kit, nid) is DeliveryState.DELIVERED
        before = cpu_seconds(server.process.pid)
        time.sleep(1.0)  # measuring: how much CPU one idle second costs it
        spent = cpu_seconds(server.process.pid) - before
        assert spent < 0.2, f"{spent:.2f} s of CPU in 1 s while idle: it spins"
        wait_until(lambda: "refusing" in server.log(), timeout=5)
        assert "connection limit reached" in server.log()
    finally:
        for s in hog:
            s.close()
        server.stop()


def test_the_event_loop_waits_for_a_running_request_instead_of_spinning(
    tmp_path, sim, make_kit, monkeypatch
):
    """While a request's thread writes its answer, the connection's buffer is not empty and the
    loop polls it as writable; waitress only tries the buffer's lock, so the loop turned ~48
    times per callback (8 clients, a connection each), holding the GIL the writer needed. It
    waits for the lock instead: a few turns per request (accept, read, wake-up, close)."""
    from waitress import wasyncore

    from notifykit.server import StatusServer

    turns = 0
    poll2 = wasyncore.poll2

    def counted(timeout: float = 0.0, map: dict | None = None) -> None:  # type: ignore[type-arg]
        nonlocal turns
        turns += 1
        poll2(timeout, map)

    port = free_port()
    kit = make_kit(serve_config(tmp_path, sim, port))
    _, path, sid = _callback(kit, sim)
    callback = raw_request("POST", path, {**FORM, "Connection": "close"}, _form(sid))
    requests_each, clients = 40, 8
    with StatusServer(kit, "127.0.0.1", port):
        exchange(port, raw_request("GET", "/healthz"))  # started and answering
        monkeypatch.setattr(wasyncore, "poll2", counted)
        statuses: list[str] = []

        def client() -> None:
            for _ in range(requests_each):
                statuses.append(exchange(port, callback)[0])

        threads = [threading.Thread(target=client) for _ in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        monkeypatch.undo()
    assert statuses == ["HTTP/1.1 200 OK"] * (requests_each * clients)
    per_request = turns / len(statuses)
    assert per_request < 8, f"{per_request:.1f} turns of the event loop per request: it spins"


def test_a_large_answer_to_a_slow_reader_arrives_whole(tmp_path, sim, make_kit):
    """What the request's thread cannot send (the client's socket is full) the event loop sends
    when it can, waiting for the buffer's lock while that thread appends more: every byte, in
    order, and the connection closed after it."""
    from notifykit.server import StatusServer

    chunk = bytes(range(256)) * 256  # 64 KiB
    count = 320  # 20 MiB: past the socket buffers and waitress's high watermark (16 MiB)

    def app(environ, start_response):  # type: ignore[no-untyped-def]
        start_response("200 OK", [("Content-Length", str(len(chunk) * count))])
        return (chunk for _ in range(count))

    port = free_port()
    kit = make_kit(serve_config(tmp_path, sim, port))
    with StatusServer(kit, "127.0.0.1", port, app=app) as server:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(raw_request("GET", "/big", {"Connection": "close"}))

            def backed_up() -> bool:
                # the client reads nothing yet: the socket buffers fill, and the answer piles up
                # in the connection's buffer past the high watermark, where the request's thread
                # waits and only the event loop can send
                return any(
                    c.total_outbufs_len > c.adj.outbuf_high_watermark
                    for c in list(server._server.active_channels.values())
                )

            wait_until(backed_up, timeout=10)
            received = bytearray()
            while data := sock.recv(65536):
                received += data
    head, _, body = bytes(received).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK")
    assert body == chunk * count


def _fill_descriptors(spare: int) -> list[int]:
    """Open ``/dev/null`` until this process has no descriptor left, then close ``spare`` of
    them again: the descriptors held, to be closed by the caller."""
    held: list[int] = []
    while True:
        try:
            held.append(os.open(os.devnull, os.O_RDONLY))
        except OSError as err:
            if err.errno != errno.EMFILE:
                raise
            break
    for _ in range(spare):
        os.close(held.pop())
    return held


@pytest.mark.parametrize("idle_one", [False, True], ids=["all-busy", "one-idle"])
def test_out_of_descriptors_the_server_makes_room_or_pauses_then_answers(
    tmp_path, sim, make_kit, caplog, idle_one
):
    """Issue 19's descriptor exhaustion, reached for real: the server's process (here the
    test's, which it shares) runs out of descriptors, so accept() fails with EMFILE. With an
    idle connection open, the server closes it to take the new one, and keeps the new one
    (accept() fails again with nobody waiting, and the connection just taken, its request not
    yet read, looked idle: it was closed in turn); with none, it stops accepting for FD_PAUSE
    and says so, instead of spinning on accept(). Either way the waiting client is answered once
    descriptors are free again."""
    caplog.set_level(logging.WARNING, "notifykit")
    port = free_port()
    kit = make_kit(serve_config(tmp_path, sim, port))
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    held: list[int] = []
    idle: socket.socket | None = None
    client: socket.socket | None = None
    with StatusServer(kit, "127.0.0.1", port) as server:
        try:
            if idle_one:
                idle = socket.create_connection(("127.0.0.1", port), timeout=5)
                wait_until(lambda: len(server._server.active_channels) == 1, timeout=5)
            # a low limit, so that filling it is quick; every descriptor open stays valid
            used = len(os.listdir("/proc/self/fd")) if Path("/proc/self/fd").is_dir() else 64
            resource.setrlimit(resource.RLIMIT_NOFILE, (max(used, 64) + 64, hard))
            held = _fill_descriptors(spare=1)
            client = socket.create_connection(("127.0.0.1", port), timeout=5)  # the last one
            if idle_one:
                assert idle is not None and closed_by_peer(idle, timeout=5)  # room made
                peer = client.getsockname()
                wait_until(
                    lambda: [c.addr for c in server._server.active_channels.values()] == [peer],
                    timeout=5,
                )
            else:
                wait_until(lambda: "out of file descriptors" in caplog.text, timeout=5)
                assert "raise the descriptor limit (ulimit -n" in caplog.text
            for fd in held:  # descriptors free again (a request needs some to be served)
                os.close(fd)
            held = []
            client.sendall(raw_request("GET", "/healthz"))
            assert read_response(client, timeout=5)[0] == "HTTP/1.1 200 OK"
        finally:
            for fd in held:
                os.close(fd)
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
            for s in (idle, client):
                if s is not None:
                    s.close()
