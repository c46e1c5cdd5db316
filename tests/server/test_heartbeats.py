"""Heartbeats and the workers' watch over real HTTP, with real processes (issue 19): ``notifykit
serve`` takes beats (and refuses wrong tokens and unknown names), a ``notifykit worker`` process
pages a missed heartbeat through the simulator and a beat resolves it, and a worker killed with
SIGKILL is paged by ``serve`` itself, resolved when a worker is back. Every wait is on a
condition with a deadline."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from notifykit import Notifier
from tests.delivery.test_workers_processes import Workers
from tests.server.support import Serve, free_port, serve_config, wait_until

ROUTING: dict[str, Any] = {
    "receivers": {"oncall": {"channels": ["sms"], "to": ["p0"]}},
    "route": {
        "receiver": "oncall",
        "group_by": ["event", "heartbeat"],
        "group_wait": "0s",
        "group_interval": "1s",
        "repeat_interval": "4h",
        "send_resolved": True,
    },
}
#: a short lease: a worker not seen for two of them (2 s) is down
WORKER = {"lease": "1s", "poll": "0.1s", "threads": 2}


def bodies(sim: Any) -> list[str]:
    return [b for r in sim.requests if r.path.endswith("/Sms/send.json") for b in r.form["Body"]]


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[dict[str, Any]]:
    started: dict[str, Any] = {}
    yield started
    if "serve" in started:
        started["serve"].stop()
    workers = started.get("workers")
    if workers is not None:
        for proc in workers.procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)


def _config(tmp_path: Path, sim: Any, port: int, heartbeats: dict[str, Any]) -> Path:
    return serve_config(
        tmp_path,
        sim,
        port,
        webhook_token="none",
        sections={**ROUTING, "worker": WORKER, "heartbeats": heartbeats},
    )


def _token(kit: Notifier, name: str) -> str:
    url = kit.heartbeat_url(name, with_token=True)
    assert url is not None
    return url.rsplit("/", 1)[1]


def test_beats_over_http(tmp_path, sim, make_kit, processes):
    port = free_port()
    config = _config(tmp_path, sim, port, {"backup": {"every": "1h"}})
    kit = make_kit(config)
    token = _token(kit, "backup")
    serve = processes["serve"] = Serve(config, port, "-v", tmp=tmp_path)  # access lines too
    url = f"{serve.url}/heartbeat/backup/{token}"

    posted = requests.post(url, data=b"backup done", timeout=10)
    assert posted.status_code == 200 and posted.json() == {"ok": True, "heartbeat": "backup"}
    assert requests.get(url, timeout=10).status_code == 200  # curl from cron
    assert requests.head(url, timeout=10).status_code == 405  # a look is not a beat
    assert kit.ledger.heartbeats.rows()["backup"].beats == 2

    wrong = requests.post(f"{serve.url}/heartbeat/backup/{'x' * 24}", timeout=10)
    unknown = requests.post(f"{serve.url}/heartbeat/restore/{token}", timeout=10)
    assert wrong.status_code == unknown.status_code == 404
    assert wrong.json() == unknown.json()  # the answer does not say which names exist
    assert kit.ledger.heartbeats.rows()["backup"].beats == 2
    assert "restore" not in kit.ledger.heartbeats.rows()

    assert serve.stop() == 0
    log = serve.log()
    assert "heartbeat backup refused (404): wrong token" in log
    assert "heartbeat restore refused (404): no heartbeat has this name" in log
    assert "/heartbeat/backup/<token>" in log  # the access lines, the token cut out
    assert token not in log


def test_a_missed_heartbeat_pages_from_a_worker_process_and_a_beat_resolves_it(
    tmp_path, sim, make_kit, processes
):
    port = free_port()
    config = _config(tmp_path, sim, port, {"backup": {"every": "2s", "grace": "1s"}})
    kit = make_kit(config)
    token = _token(kit, "backup")
    serve = processes["serve"] = Serve(config, port, tmp=tmp_path)
    url = f"{serve.url}/heartbeat/backup/{token}"
    assert requests.post(url, timeout=10).status_code == 200
    workers = processes["workers"] = Workers(config, tmp_path)
    workers.start("w1")

    wait_until(lambda: any("heartbeat.missed" in b for b in bodies(sim)), timeout=30)
    (page,) = bodies(sim)
    assert page.startswith("CRITICAL heartbeat.missed: heartbeat=backup")
    assert [s.state for s in kit.heartbeats()] == ["missed"]

    assert requests.post(url, timeout=10).status_code == 200
    wait_until(lambda: any(b.startswith("RESOLVED") for b in bodies(sim)), timeout=30)
    firing = [b for b in bodies(sim) if b.startswith("CRITICAL")]
    resolved = [b for b in bodies(sim) if b.startswith("RESOLVED")]
    assert resolved[0].startswith("RESOLVED heartbeat.missed: heartbeat=backup")
    assert len(resolved) == 1 and firing[0] == page
    assert workers.stop("w1")["ok"] in (True, False)
    assert serve.stop() == 0
    assert "heartbeat backup is back" in serve.log() + workers.stderr("w1")


def test_a_killed_worker_is_paged_by_serve_itself(tmp_path, sim, make_kit, processes):
    port = free_port()
    config = _config(tmp_path, sim, port, {})
    kit = make_kit(config)
    workers = processes["workers"] = Workers(config, tmp_path)
    workers.start("w1")
    wait_until(lambda: kit.ledger.workers(kit.clock(), 2.0), timeout=30)
    serve = processes["serve"] = Serve(config, port, tmp=tmp_path)
    wait_until(lambda: requests.get(f"{serve.url}/readyz", timeout=5).status_code == 200, 10)
    assert bodies(sim) == []

    workers.kill("w1")
    wait_until(lambda: any("notifykit.worker.down" in b for b in bodies(sim)), timeout=30)
    (page,) = bodies(sim)
    assert page.startswith("CRITICAL notifykit.worker.down: last_seen=")
    assert "window=2.0" in page
    wait_until(lambda: "NO NOTIFYKIT WORKER SEEN" in serve.log(), timeout=10)

    workers.start("w2")
    wait_until(lambda: any(b.startswith("RESOLVED") for b in bodies(sim)), timeout=30)
    (resolved,) = [b for b in bodies(sim) if b.startswith("RESOLVED")]
    assert resolved.startswith("RESOLVED notifykit.worker.down")
    assert len([b for b in bodies(sim) if b.startswith("CRITICAL")]) == 1
    wait_until(lambda: "a notifykit worker is back" in serve.log(), timeout=10)


def test_the_token_is_cut_out_of_logged_paths() -> None:
    from notifykit.server.http import hide_tokens

    line = "GET /heartbeat/nightly-backup/9Ft3V45SrVrg9ypYA3LAwNCc -> 200 (0.4 ms)"
    assert hide_tokens(line) == "GET /heartbeat/nightly-backup/<token> -> 200 (0.4 ms)"
