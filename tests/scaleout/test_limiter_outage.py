"""The shared limiter's store going away is not a failed page: with Redis unreachable (a port
where nothing listens, or a proxy in front of the real Redis that the test cuts) the limiter
limits per process, says so once per outage, goes back to the store when it returns, and an
escalation keeps paging on its schedule. A store error that is no outage (the key holds the
wrong type) holds the delivery back as a failure of our own: retried within the deadline, never
"the person was not reached" that moves an escalation on."""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from notifykit import Notifier
from notifykit.limits import LimiterError, LimiterUnavailable, StoreOutage
from notifykit.limits.redis import RedisBackend
from notifykit.report import DeliveryState
from notifykit_exotel import RateLimiter
from notifykit_exotel.simulator import ExotelSimulator
from tests.delivery.conftest import PHONES, SID, TOKEN, Clock, wait_until, write_config
from tests.delivery.test_escalation import CALL0, CALL1, ROUTING, SMS0, drain, sends
from tests.exotel.test_rate_limit import most_in_any_window
from tests.scaleout.conftest import PYTHON, Procs, split

LIMITS = "notifykit.limits"


class CuttableProxy:
    """A TCP proxy on 127.0.0.1 in front of ``upstream``. :meth:`cut` drops every connection
    and hangs up on new ones at once (the store is "away"); :meth:`restore` lets them through
    again."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._lock = threading.Lock()
        self._socks: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._cut = False
        self.refused = 0  # connections hung up on while cut
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self._listener.getsockname()[1])

    def cut(self) -> None:
        with self._lock:
            self._cut = True
            socks = list(self._socks)
        for sock in socks:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # wakes the pump blocked in recv()

    def restore(self) -> None:
        with self._lock:
            self._cut = False

    def close(self) -> None:
        self.cut()
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes accept() (Linux)
        self._listener.close()
        self._thread.join(5)
        for thread in list(self._threads):
            thread.join(5)

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                cut = self._cut
            if cut:
                self.refused += 1
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._socks.update((client, upstream))
            for src, dst in ((client, upstream), (upstream, client)):
                thread = threading.Thread(target=self._pump, args=(src, dst), daemon=True)
                self._threads.append(thread)
                thread.start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for sock in (src, dst):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        with self._lock:
            for sock in (src, dst):
                if sock in self._socks:
                    self._socks.discard(sock)
                    sock.close()


def closed_port() -> int:
    """A port where nothing listens: bound, then closed."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def redis_proxy(redis_url: str) -> Iterator[tuple[CuttableProxy, str, str, Any]]:
    """(the proxy, its redis:// URL, this test's key prefix, a client on the real Redis)."""
    from urllib.parse import urlsplit

    import redis

    base, prefix = split(redis_url)
    parts = urlsplit(base)
    proxy = CuttableProxy((parts.hostname or "127.0.0.1", parts.port or 6379))
    direct = redis.Redis.from_url(base)
    try:
        yield proxy, f"redis://127.0.0.1:{proxy.port}{parts.path or '/0'}", prefix, direct
    finally:
        direct.close()
        proxy.close()


def warnings_of(caplog: pytest.LogCaptureFixture, level: int = logging.WARNING) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LIMITS and r.levelno == level]


def test_a_cut_redis_limits_per_process_warns_once_per_outage_and_comes_back(
    redis_proxy: Any, caplog: pytest.LogCaptureFixture
) -> None:
    proxy, url, prefix, direct = redis_proxy
    caplog.set_level(logging.INFO, logger=LIMITS)
    limit, window = 3, 0.5
    backend = RedisBackend(url, prefix=prefix)
    # Shorter than the default 2 s to 16 s, so the test takes a few seconds.
    backend.outage.recheck_first, backend.outage.recheck_most = 0.25, 1.0
    key = f"{prefix}:exotel:ACout"
    try:
        limiter = backend.limiter(
            "exotel:ACout", limit, window, window * 0.01, local=RateLimiter(limit, window)
        )
        limiter.acquire()
        limiter.release()
        assert direct.zcard(key) == 1  # granted in the shared store

        proxy.cut()
        direct.delete(key)
        arrivals: list[float] = []
        for _ in range(3 * limit + 1):
            limiter.acquire()
            arrivals.append(time.monotonic())
            limiter.release()
        # Sends went on, and the local limiter still kept this process to the limit.
        assert most_in_any_window(arrivals, window) <= limit
        assert max(arrivals) - min(arrivals) >= 3 * window
        assert not direct.exists(key)  # nothing reached the store while it was away
        # Asked again with backoff (after 0.25 s, 0.5 s, 1 s...), not for every request.
        assert 1 <= proxy.refused <= 4 < len(arrivals)
        [warning] = warnings_of(caplog)
        assert f"{url} unreachable (ConnectionError)" in warning
        assert "limiting per process" in warning and "number of processes" in warning

        # Granted locally while the store was away, released after it is back: the release
        # goes to the local limiter that granted it (else its one slot would stay taken).
        one = backend.limiter("exotel:ACone", 1, window, 0.0, local=RateLimiter(1, window))
        one.acquire()
        proxy.restore()

        def shared_again() -> bool:
            limiter.acquire()
            limiter.release()
            return bool(direct.zcard(key))

        wait_until(shared_again, timeout=10)
        assert len(warnings_of(caplog)) == 1
        [back] = warnings_of(caplog, logging.INFO)
        assert f"{url} is back" in back
        one.release()

        proxy.cut()  # a second outage: a second warning, and the local slot is free
        other = threading.Thread(target=one.acquire, daemon=True)
        other.start()
        other.join(5)
        assert not other.is_alive(), "the local grant was never released"
        assert len(warnings_of(caplog)) == 2
        assert "unreachable (ConnectionError, outage 2)" in warnings_of(caplog)[1]
    finally:
        backend.close()


def test_notify_with_redis_unreachable_sends_and_warns_once_without_the_password(
    make_kit: Any, sim: ExotelSimulator, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    port = closed_port()
    caplog.set_level(logging.INFO, logger=LIMITS)
    kit = make_kit(write_config(tmp_path, sim, limiter=f"redis://:hunter2-pw@127.0.0.1:{port}/0"))
    for n in range(3):
        report = kit.notify("db.down", data={"host": f"db{n}"})
        assert [d.state for d in report.deliveries] == [DeliveryState.SENT]
    assert len([r for r in sim.requests if r.path.endswith("/Sms/send.json")]) == 3
    [warning] = warnings_of(caplog)
    assert f"redis://127.0.0.1:{port}/0 unreachable (ConnectionError)" in warning
    assert "hunter2-pw" not in caplog.text


def test_an_escalation_keeps_paging_on_schedule_with_redis_away(
    make_kit: Any, sim: ExotelSimulator, tmp_path: Path, clock: Clock
) -> None:
    """The issue's case: with the limiter's Redis away every step failed at once, so the
    escalation ran through its steps within minutes and closed having paged nobody."""
    limiter = f"redis://127.0.0.1:{closed_port()}/0"
    kit = make_kit(write_config(tmp_path, sim, limiter=limiter, **ROUTING), clock=clock)
    kit.notify("db.down", severity="critical", labels={"host": "db1"})
    assert sends(sim) == [SMS0]
    clock.advance(4 * 60)
    drain(kit, clock)
    assert sends(sim) == [SMS0]  # the next step waits for its time: nothing failed
    clock.advance(60)
    drain(kit, clock)
    assert sends(sim) == [SMS0, CALL0]
    clock.advance(5 * 60)
    drain(kit, clock)
    assert sends(sim) == [SMS0, CALL0, CALL1]
    [escalation] = kit.ledger.escalations()
    assert escalation.state == "done"
    assert kit.ledger.counts() == {"sent": 3}


def test_a_store_error_that_is_no_outage_holds_the_step_back_and_never_escalates(
    make_kit: Any,
    sim: ExotelSimulator,
    tmp_path: Path,
    clock: Clock,
    redis_url: str,
) -> None:
    """The limiter's key holds a string (a misconfiguration): no fallback, but no failed page
    either: the step is retried within the channel's deadline and, when that passes, fails
    without moving the escalation on; the later steps go out on their schedule."""
    import redis

    url, prefix = split(redis_url)
    direct = redis.Redis.from_url(url)
    key = f"{prefix}:exotel:{SID}"
    direct.set(key, "not a sorted set")
    try:
        path = write_config(
            tmp_path, sim, limiter={"url": url, "prefix": prefix}, **ROUTING
        )  # retry deadline: 60 s
        kit = make_kit(path, clock=clock)
        report = kit.notify("db.down", severity="critical", labels={"host": "db1"})
        [delivery] = report.deliveries
        assert delivery.state is DeliveryState.PENDING  # left for a worker, not failed
        assert "rate limiter" in (delivery.error or "")
        assert "WRONGTYPE" in (delivery.error or "")  # what is wrong, and what to check:
        assert "a Redis (and prefix: keys) notifykit alone uses" in (delivery.error or "")
        [escalation] = kit.ledger.escalations()

        def steps() -> list[str]:
            return [s.state for s in kit.ledger.escalation_steps(escalation.id)]

        assert steps() == ["sent", "pending", "pending"]
        clock.advance(30)
        drain(kit, clock)  # retried: still held back
        assert kit.ledger.counts() == {"pending": 1}
        clock.advance(40)
        drain(kit, clock)  # past the deadline: failed, and still no escalation
        [failed] = kit.history(limit=0)[0].deliveries
        assert failed.state is DeliveryState.FAILED
        assert "retry deadline passed" in (failed.error or "")
        assert steps() == ["sent", "pending", "pending"]
        assert sends(sim) == []
        drain(kit, clock)  # had the failure moved the escalation on, step 1 would go now
        assert steps() == ["sent", "pending", "pending"]
        assert kit.ledger.counts() == {"failed": 1}

        direct.delete(key)  # fixed: the next step goes out at its time
        clock.advance(4 * 60)
        drain(kit, clock)
        assert sends(sim) == [CALL0]
        assert steps() == ["sent", "sent", "pending"]
    finally:
        direct.delete(key)
        direct.close()


def test_a_send_held_back_for_a_worker_exits_4_so_no_script_retries_it(
    sim: ExotelSimulator, tmp_path: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Exit 2 says "nothing can have gone out: safe to retry"; a delivery left pending will go
    out (a worker sends it), so a script retrying on 2 would page twice."""
    import json

    import redis

    from tests.cli.support import run

    monkeypatch.setenv("NK_LEDGER_TOKEN", TOKEN)
    url, prefix = split(redis_url)
    direct = redis.Redis.from_url(url)
    key = f"{prefix}:exotel:{SID}"
    direct.set(key, "not a sorted set")
    try:
        path = write_config(tmp_path, sim, limiter={"url": url, "prefix": prefix})
        result = run("-c", str(path), "--json", "notify", "db.down", "--data", "host=db1")
        assert result.exit_code == 4, result.output
        assert json.loads(result.stdout)["counts"] == {"pending": 1}
        assert sim.requests == []
    finally:
        direct.delete(key)
        direct.close()


def test_the_store_is_asked_again_with_backoff_and_each_outage_is_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [0.0]
    outage = StoreOutage("redis://h:6379/0", clock=lambda: now[0])
    caplog.set_level(logging.INFO, logger=LIMITS)
    down = LimiterUnavailable("unreachable", reason="ConnectionError")

    def asked_at(until: float) -> list[float]:
        times = []
        while now[0] < until:
            if outage.should_ask():
                times.append(now[0])
                outage.failed(down)
            now[0] = round(now[0] + 0.5, 1)
        return times

    assert outage.should_ask()
    outage.failed(down)
    outage.failed(down)  # another request that set out before: not a failed recheck
    assert asked_at(60.0) == [2.0, 6.0, 14.0, 30.0, 46.0]  # 2 s, doubling, at most 16 s
    outage.answered()
    assert outage.should_ask() and not outage.down
    outage.failed(down)  # a second outage: rechecks start at 2 s again
    assert asked_at(70.0) == [62.0, 66.0]
    assert len(warnings_of(caplog)) == 2
    [back] = warnings_of(caplog, logging.INFO)
    assert back.startswith("shared rate limit store redis://h:6379/0 is back after 60 s")


def test_a_limiter_without_a_local_fallback_still_raises() -> None:
    with pytest.raises(LimiterError, match="check that Redis runs"):
        RedisBackend(f"redis://127.0.0.1:{closed_port()}/0").limiter("k", 1, 1.0, 0.0).acquire()


@pytest.mark.slow
def test_a_worker_process_keeps_sending_through_a_redis_outage_and_returns_to_it(
    tmp_path: Path,
    procs: Procs,
    redis_proxy: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    proxy, url, prefix, direct = redis_proxy
    key = f"{prefix}:exotel:{SID}"
    monkeypatch.setenv("NK_LEDGER_TOKEN", TOKEN)
    with ExotelSimulator(sid=SID, token=TOKEN, rate_limit=100_000, rate_window=1.0) as sim:
        path = write_config(
            tmp_path,
            sim,
            limiter={"url": url, "prefix": prefix},
            account={"rate_limit": 50, "rate_window": "1s"},
            worker={"threads": 2, "lease": "10s", "poll": "0.1s"},
        )
        kit = Notifier.from_config(path)
        sent = 0

        def submit(count: int) -> None:
            nonlocal sent
            for _ in range(count):
                kit.submit("db.down", data={"host": "db1"}, to=PHONES[sent % len(PHONES)])
            sent += count
            wait_until(lambda: kit.ledger.counts() == {"sent": sent}, timeout=20)

        try:
            argv = [PYTHON, "-m", "notifykit", "--config", str(path), "-v", "worker"]
            procs.start("w", [*argv, "--node", "w"], {"NK_LEDGER_TOKEN": TOKEN}, tmp_path)
            submit(2)
            assert direct.exists(key)  # granted in the shared store

            proxy.cut()
            direct.delete(key)
            submit(5)  # sent through the outage, limited per process
            assert len(sim.requests) == 7
            assert not direct.exists(key)
            err = (tmp_path / "w.err").read_text(errors="replace")
            assert err.count("unreachable (ConnectionError)") == 1, err
            assert f"{url} unreachable" in err

            proxy.restore()

            def shared_again() -> bool:
                submit(1)
                return bool(direct.exists(key))

            wait_until(shared_again, timeout=30)  # it rechecks every few seconds
            err = (tmp_path / "w.err").read_text(errors="replace")
            assert err.count(f"{url} is back") == 1, err

            proxy.cut()  # a second outage is shown too (the CLI shows each warning text once)
            submit(2)
            err = (tmp_path / "w.err").read_text(errors="replace")
            assert err.count("unreachable (ConnectionError") == 2, err
            assert procs.stop("w") == 0, procs.stderr("w")
        finally:
            kit.close()


def test_a_postgresql_limiter_away_at_start_limits_per_process_and_comes_back(
    pg_store: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The table is created by the first grant that reaches the server, not at start: a
    process that starts during the outage pages all the same."""
    import psycopg

    from notifykit.limits.postgres import PostgresBackend

    caplog.set_level(logging.INFO, logger=LIMITS)
    proxy = CuttableProxy(("127.0.0.1", 5432))
    proxy.cut()
    url = pg_store.replace("@127.0.0.1:5432/", f":pw-s3cret@127.0.0.1:{proxy.port}/")
    assert url != pg_store
    try:
        backend = PostgresBackend(url)  # does not raise: the server is away
        backend.outage.recheck_first, backend.outage.recheck_most = 0.25, 0.5
        try:
            limiter = backend.limiter("exotel:ACpg", 2, 0.3, 0.0, local=RateLimiter(2, 0.3))
            arrivals = []
            for _ in range(5):
                limiter.acquire()
                arrivals.append(time.monotonic())
                limiter.release()
            assert most_in_any_window(arrivals, 0.3) <= 2
            [warning] = warnings_of(caplog)
            assert "127.0.0.1" in warning and "unreachable (" in warning
            assert "pw-s3cret" not in caplog.text

            proxy.restore()

            def rows() -> int:
                with psycopg.connect(pg_store) as conn:
                    row = conn.execute(
                        "SELECT count(*) FROM notifykit_rate_log WHERE key = 'exotel:ACpg'"
                    ).fetchone()
                    return int(row[0]) if row else 0

            def shared_again() -> bool:
                limiter.acquire()
                limiter.release()
                return bool(backend.outage.down is False and rows())

            wait_until(shared_again, timeout=20)
            [back] = warnings_of(caplog, logging.INFO)
            assert "is back" in back
        finally:
            backend.close()
    finally:
        proxy.close()
