"""The Celery task's work, in this process on a SQLite ledger (no broker needed): idempotent
against the ledger, so a task delivered twice never sends twice; and ``submit()`` with
``dispatch: celery`` accepts the notification even when the broker is down."""

from __future__ import annotations

import time

from notifykit.celery import deliver_ids, enqueue_due
from notifykit.report import DeliveryState
from tests.delivery.conftest import write_config


def test_a_task_delivered_twice_sends_once(make_kit, sim):
    kit = make_kit()
    submission = kit.submit("db.down", data={"host": "db1"})
    ids = list(submission.deliveries)
    assert deliver_ids(kit.runtime, ids, "celery-queue:q1", "celery:task1") == {"sent": 1}
    # the broker delivers it again (a lost ack): the delivery is 'sent', nothing to do
    assert deliver_ids(kit.runtime, ids, "celery-queue:q1", "celery:task1") == {}
    assert len(sim.requests) == 1


def test_a_task_finding_its_delivery_sending_does_nothing_and_it_becomes_unknown(make_kit, sim):
    kit = make_kit()
    ids = list(kit.submit("db.down", data={"host": "db1"}).deliveries)
    now = time.time()
    # a worker that died mid-task: it had marked the delivery 'sending'
    assert [j.id for j in kit.ledger.claim("celery:dead", now, 2.0, 10, ids=ids)] == ids
    assert kit.ledger.begin_send("celery:dead", ids, now) == ids
    assert deliver_ids(kit.runtime, ids, "celery-queue:q1", "celery:dead") == {}
    assert deliver_ids(kit.runtime, ids, "celery-queue:q1", "celery:other") == {}
    assert sim.requests == []
    (change,) = kit.runtime.pipeline.due.recover(
        now + 3.0
    )  # after its lease: unknown, never resent
    assert change.delivery.state is DeliveryState.UNKNOWN
    assert sim.requests == []


def test_a_task_whose_first_run_died_before_sending_delivers_on_redelivery(make_kit, sim):
    kit = make_kit()
    ids = list(kit.submit("db.down", data={"host": "db1"}).deliveries)
    kit.ledger.claim("celery:task7", time.time(), 60.0, 10, ids=ids)  # claimed, never started
    assert deliver_ids(kit.runtime, ids, "celery-queue:q1", "celery:task7") == {"sent": 1}
    assert len(sim.requests) == 1


def test_submit_with_the_broker_down_accepts_and_leaves_the_work_to_beat(
    make_kit, sim, tmp_path, caplog
):
    config = write_config(
        tmp_path, sim, dispatch="celery", celery={"broker": "redis://127.0.0.1:1/0"}
    )
    kit = make_kit(config)
    submission = kit.submit("db.down", data={"host": "db1"})
    assert not submission.duplicate
    assert "beat enqueues them on its next tick" in caplog.text
    (delivery,) = kit.ledger.deliveries(list(submission.deliveries))
    assert delivery.state is DeliveryState.PENDING
    # released, not left leased to the queue: the next tick claims it at once
    claimed = kit.ledger.claim("probe", time.time(), 1.0, 10)
    assert [j.id for j in claimed] == list(submission.deliveries)
    kit.ledger.release("probe", [j.id for j in claimed])
    assert enqueue_due(kit.runtime) == 0  # the broker is still down: released again, nothing lost
    assert kit.ledger.claim("probe", time.time(), 1.0, 10)
    assert sim.requests == []


def test_beats_tick_plans_due_escalation_steps_before_it_enqueues(make_kit, sim, tmp_path, clock):
    from tests.delivery.test_escalation import ROUTING

    config = write_config(
        tmp_path, sim, dispatch="celery", celery={"broker": "redis://127.0.0.1:1/0"}, **ROUTING
    )
    kit = make_kit(config, clock=clock)
    kit.notify("db.down", severity="critical", labels={"host": "db1"})  # step 0 goes out now
    before = {r.id for r in kit.history(limit=0)}
    clock.advance(5 * 60)
    assert enqueue_due(kit.runtime) == 0  # the broker is down: nothing enqueued, nothing lost
    # ... but the 5-minute step became a delivery in the ledger, pending for the next tick.
    new = [r for r in kit.history(limit=0) if r.id not in before]
    assert [(d.channel, d.state) for r in new for d in r.deliveries] == [
        ("call", DeliveryState.PENDING)
    ]
    assert len(sim.requests) == 1


def test_importing_the_celery_module_builds_nothing(tmp_path):
    """``import notifykit.celery`` reads no config and builds no Notifier (the broker settings are
    read when Celery first needs them): here the config names an account whose token is unset,
    which building anything would refuse."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    config = tmp_path / "notifykit.yaml"
    config.write_text(
        "accounts: {main: {provider: exotel, sid: ACx, token: '${NK_UNSET_TOKEN}'}}\n"
        "channels: {sms: {type: exotel-sms, account: main, senders: {default: {from: NKALRT}}}}\n"
        "recipients: {alice: {phone: '+919876543210'}}\n"
        "defaults: {channels: [sms], to: [alice]}\n"
        "dispatch: celery\n"
        "celery: {broker: 'redis://127.0.0.1:1/0'}\n"
    )
    env = {
        **{k: v for k, v in os.environ.items() if k != "NK_UNSET_TOKEN"},
        "NOTIFYKIT_CONFIG": str(config),
        "PYTHONPATH": f"{root}:{root / 'plugins'}",
    }
    code = (
        "import sys, notifykit.celery as c\n"
        "assert 'notifykit.notifier' not in sys.modules, 'a Notifier was imported'\n"
        "assert 'notifykit.runtime' not in sys.modules, 'a runtime was imported'\n"
        "print(c.app.conf.broker_url)\n"  # read now, from the config alone, secrets unset
    )
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "redis://127.0.0.1:1/0"
