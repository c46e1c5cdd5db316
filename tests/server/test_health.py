"""``/healthz`` and ``/readyz`` over real HTTP (issue 19): the first says the process answers,
the second that it can work: a ledger write and read, a writable disk with room, a live
worker. A corrupt ledger and a full disk are not ready (they used to say ok)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from notifykit import Notifier
from notifykit.server import StatusServer
from notifykit_exotel.simulator import ExotelSimulator
from tests.delivery.conftest import TOKEN
from tests.server.support import free_port, serve_config, wait_until
from tests.services import required


@pytest.fixture
def served(
    tmp_path: Path, sim: ExotelSimulator, make_kit: Callable[..., Notifier]
) -> Iterator[tuple[Notifier, StatusServer]]:
    port = free_port()
    kit = make_kit(serve_config(tmp_path, sim, port))
    with StatusServer(kit, "127.0.0.1", port) as server:
        yield kit, server


def _ready(url: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    answer = requests.get(f"{url}/readyz", timeout=10)
    return answer.status_code, answer.json()


def test_ready_with_a_live_worker_and_not_without(served):
    kit, server = served
    status, report = _ready(server.url)
    assert status == 503 and not report["ready"]
    assert report["checks"]["ledger"]["ok"] and report["checks"]["disk"]["ok"]
    assert "no notifykit worker seen" in report["checks"]["worker"]["detail"]
    kit.ledger.heartbeat("w1", socket.gethostname(), 1, time.time())
    status, report = _ready(server.url)
    assert status == 200 and report["ready"], report
    # two leases (worker.lease: 60 s) later, that worker is gone
    kit.ledger.heartbeat("w1", socket.gethostname(), 1, time.time() - 121)
    assert _ready(server.url)[0] == 503


def test_ready_without_a_worker_where_none_is_meant_to_run(tmp_path, sim, make_kit):
    """``server.watch_workers: false`` (an application sending with ``notify()``, ``serve`` only
    taking callbacks): no worker is expected, so its absence must not keep the server out of
    its load balancer."""
    port = free_port()
    kit = make_kit(serve_config(tmp_path, sim, port, watch_workers=False))
    with StatusServer(kit, "127.0.0.1", port) as server:
        status, report = _ready(server.url)
    assert status == 200 and report["ready"], report
    assert "watch_workers is false" in report["checks"]["worker"]["detail"]


def test_a_corrupt_ledger_is_alive_but_not_ready(tmp_path, sim, make_kit):
    port = free_port()
    config = serve_config(tmp_path, sim, port)
    kit = make_kit(config)
    kit.ledger.heartbeat("w1", socket.gethostname(), 1, time.time())
    kit.close()
    with open(tmp_path / "ledger.db", "r+b") as f:  # a disk fault, found by the next start
        f.write(b"this is no database at all" * 40)
    with StatusServer(make_kit(config), "127.0.0.1", port) as server:
        status, report = _ready(server.url)
        assert status == 503 and not report["checks"]["ledger"]["ok"], report
        assert "ledger" in report["checks"]["ledger"]["detail"]
        health = requests.get(f"{server.url}/healthz", timeout=5)
        assert health.status_code == 200 and health.json() == {"ok": True}


def test_a_full_disk_is_not_ready(tmp_path, sim, make_kit):
    """``notifykit serve`` with its ledger on a 40 MiB tmpfs of its own (a mount namespace),
    which the test then fills through ``/proc/<pid>/root``. Without root or ``unshare`` it is
    skipped, or failed under ``NOTIFYKIT_REQUIRE_SERVICES=1`` (CI never passes by skipping)."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        reason = (
            "a full disk is made with a small tmpfs in a mount namespace: needs root and unshare"
        )
        if required():
            pytest.fail(f"the full-disk test is required (NOTIFYKIT_REQUIRE_SERVICES=1): {reason}")
        pytest.skip(reason)
    port = free_port()
    config = serve_config(tmp_path, sim, port)
    kit = make_kit(config)
    kit.ledger.heartbeat("w1", socket.gethostname(), 1, time.time())
    kit.close()
    disk = tmp_path / "disk"
    disk.mkdir()
    script = (
        f"mount -t tmpfs -o size=40m tmpfs {disk} && cp {tmp_path}/notifykit.yaml "
        f"{tmp_path}/ledger.db {disk}/ && exec {sys.executable} -m notifykit -c "
        f"{disk}/notifykit.yaml serve"
    )
    server = subprocess.Popen(
        ["unshare", "-m", "sh", "-c", script],
        env={**os.environ, "NK_LEDGER_TOKEN": TOKEN},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:

        def up() -> bool:
            try:
                return requests.get(f"{url}/healthz", timeout=1).status_code == 200
            except requests.ConnectionError:
                return server.poll() is not None

        wait_until(up, timeout=30)
        assert server.poll() is None, "notifykit serve in its mount namespace did not start"
        status, report = _ready(url)
        assert status == 200, report
        inside = Path(f"/proc/{server.pid}/root") / str(disk).lstrip("/")
        with open(inside / "filler", "wb") as f:
            try:
                while True:
                    f.write(b"\0" * (1 << 20))
            except OSError:
                pass  # full
        status, report = _ready(url)
        assert status == 503 and not report["checks"]["disk"]["ok"], report
        assert requests.get(f"{url}/healthz", timeout=5).status_code == 200
    finally:
        server.terminate()
        server.wait(timeout=20)
