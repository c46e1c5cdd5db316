"""Deliveries through Celery workers (``dispatch: celery``) on Redis and on RabbitMQ, with the
PostgreSQL ledger: 1,000 deliveries exactly once (the simulator's request log proves it), also
when a Celery worker is SIGKILLed mid-run. ``submit()`` enqueues after the ledger commit; the
workers run ``celery -A notifykit.celery worker``; beat (``celery -A notifykit.celery beat``)
enqueues due retries and turns what a killed worker left ``sending`` into ``unknown``.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from notifykit import Notifier
from notifykit.report import DeliveryState
from notifykit_exotel.simulator import ExotelSimulator
from tests.delivery.conftest import SID, TOKEN, wait_until
from tests.delivery.conftest import write_config as write_delivery_config
from tests.delivery.test_workers_processes import assert_exactly_once, left_over, numbers
from tests.scaleout.conftest import PYTHON, Procs
from tests.services import require_rabbitmq, require_redis

COUNT = 1000
CONCURRENCY = 2


def broker(kind: str) -> str:
    return require_redis().rsplit("/", 1)[0] + "/3" if kind == "redis" else require_rabbitmq()


def write_config(
    tmp_path: Path, sim: ExotelSimulator, store: str, broker_url: str, requeue_after: str = "60s"
) -> Path:
    return write_delivery_config(
        tmp_path,
        sim,
        store=store,
        dispatch="celery",
        celery={
            "broker": broker_url,
            "queue": f"nktest-{uuid.uuid4().hex[:10]}",
            "enqueue_every": "0.2s",
            "visibility_timeout": "5s",
            "requeue_after": requeue_after,
        },
        account={"timeout": 5},
        worker={"lease": "3s"},
        retry={"initial": "1s", "max": "2s", "deadline": "60s"},
    )


def start_celery(procs: Procs, path: Path, tmp_path: Path, name: str) -> None:
    env = {"NK_LEDGER_TOKEN": TOKEN, "NOTIFYKIT_CONFIG": str(path)}
    queue = yaml.safe_load(path.read_text())["celery"]["queue"]
    argv = [
        PYTHON, "-m", "celery", "-A", "notifykit.celery", "worker", "--loglevel", "INFO",
        "--concurrency", str(CONCURRENCY), "--pool", "prefork", "-Q", queue,
        "--hostname", f"{name}@%h", "--without-gossip", "--without-mingle",
    ]  # fmt: skip
    procs.start(name, argv, env, tmp_path)


def start_beat(procs: Procs, path: Path, tmp_path: Path) -> None:
    env = {"NK_LEDGER_TOKEN": TOKEN, "NOTIFYKIT_CONFIG": str(path)}
    argv = [
        PYTHON, "-m", "celery", "-A", "notifykit.celery", "beat", "--loglevel", "INFO",
        "--schedule", str(tmp_path / "beat-schedule"), "--pidfile", "",
    ]  # fmt: skip
    procs.start("beat", argv, env, tmp_path)


@pytest.fixture
def sim() -> Any:
    with ExotelSimulator(sid=SID, token=TOKEN, rate_limit=100_000, rate_window=1.0) as simulator:
        yield simulator


@pytest.fixture
def kit_for(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("NK_LEDGER_TOKEN", TOKEN)
    made: list[Notifier] = []

    def make(path: Path) -> Notifier:
        kit = Notifier.from_config(path)
        made.append(kit)
        return kit

    yield make
    for kit in made:
        kit.close()


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["redis", "rabbitmq"])
def test_a_thousand_deliveries_through_celery_workers_go_out_exactly_once(
    kind, tmp_path, sim, pg_store, procs, kit_for
):
    path = write_config(tmp_path, sim, pg_store, broker(kind))
    kit = kit_for(path)
    for name in ("c1", "c2"):
        start_celery(procs, path, tmp_path, name)
    to = numbers(COUNT, "95000")
    submissions = [kit.submit("db.down", data={"host": "db1"}, to=n) for n in to]
    assert all(not s.duplicate for s in submissions)
    wait_until(lambda: kit.ledger.counts() == {"sent": COUNT}, timeout=90)
    counts = assert_exactly_once(kit, sim, to, max_unknown=0)
    assert counts == {"sent": COUNT}
    # both workers took part, and a task delivered again does nothing: every delivery is sent
    for name in ("c1", "c2"):
        assert "succeeded" in procs.stderr(name), procs.stderr(name)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["redis", "rabbitmq"])
def test_a_celery_worker_killed_mid_run_sends_nothing_twice(
    kind, tmp_path, sim, pg_store, procs, kit_for
):
    # Tasks the victim had reserved come back after Redis's visibility timeout; the ledger's
    # requeue_after enqueues again whatever a lost task leaves leased to the queue.
    path = write_config(tmp_path, sim, pg_store, broker(kind), requeue_after="15s")
    kit = kit_for(path)
    start_beat(procs, path, tmp_path)
    for name in ("victim", "survivor"):
        start_celery(procs, path, tmp_path, name)
    to = numbers(COUNT, "95100")
    for number in to:
        kit.submit("db.down", data={"host": "db1"}, to=number)
    sim.wait_for_requests(300, timeout=60)
    procs.kill("victim")  # the worker and its pool processes, mid-task
    # The survivor takes the victim's tasks over (RabbitMQ at once, Redis after the visibility
    # timeout); beat turns what the victim left 'sending' into 'unknown' after its lease.
    wait_until(lambda: left_over(kit) == 0, timeout=90)
    counts = assert_exactly_once(kit, sim, to, max_unknown=CONCURRENCY + 1)
    assert counts.get("sent", 0) >= COUNT - CONCURRENCY - 1
    for report in kit.history(limit=0, state="unknown"):
        (delivery,) = report.deliveries
        assert delivery.state is DeliveryState.UNKNOWN
        assert "stopped before recording the provider's answer" in (delivery.error or "")
