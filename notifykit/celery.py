"""Deliveries on Celery: ``dispatch: celery`` in the config, ``celery -A notifykit.celery worker``.

Celery carries *which* deliveries to make; the ledger stays the one record of what was made, so
exactly-once effects keep coming from the ledger's leases and never from the broker (every broker
is at best at-least-once):

- ``kit.submit()`` (and every notification the pipeline stores with ``dispatch: celery``)
  commits the notification with its deliveries leased to a *queue owner* for
  ``celery.requeue_after``, then sends one task per batch (one notification and channel)
  (:class:`~notifykit.runtime.CeleryQueue`, :class:`Producer`). A task lost on the way (a broker
  down, a message dropped) is harmless: the lease runs out and the beat task enqueues the
  deliveries again.
- The task (:data:`DELIVER`) takes the deliveries back from the queue owner, claims them with a
  lease of its own (``claim(ids=...)``: only ``pending`` ones are claimed), keeps the lease
  while it sends (the one :class:`~notifykit.delivery.leases.LeaseKeeper`), and delivers through
  the one delivery run (:class:`~notifykit.delivery.run.DeliveryRun`), so a failed escalation
  step escalates at once, as under ``notifykit worker``. A task delivered twice (a worker killed
  before the ack, Redis's visibility timeout) finds its deliveries ``sending``, ``sent`` or final
  and does nothing; those left ``sending`` by a killed worker become ``unknown`` after their
  lease, never resent.
- Due-later work (retries, groups whose timer is due, escalation steps) is enqueued by
  :data:`ENQUEUE_DUE`, which **Celery beat** runs every ``celery.enqueue_every``: the pipeline's
  due-work tick (the same one ``notifykit worker`` runs), then it claims what is due for the
  queue owner and sends the tasks. Retries are scheduled in the ledger (``due``), never as Celery
  countdowns, so they survive a broker's loss and obey the channel's retry policy.

Celery is configured for this work: ``acks_late`` (the ack comes after the outcome is recorded),
``reject_on_worker_lost`` (a killed worker's task goes back to the queue), prefetch 1, results
ignored, JSON only. Works with Redis (``redis://``) and RabbitMQ (``amqp://``) brokers. Workers
read the config ``NOTIFYKIT_CONFIG`` names, with its secrets in their environment, and build one
:class:`~notifykit.runtime.Runtime` per process, after the fork. Importing this module builds
nothing: the broker settings are read from the config when Celery first needs them.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from celery import Celery, signals

from notifykit.config.loader import CONFIG_ENV
from notifykit.delivery.dispatch import group_batches
from notifykit.delivery.queues import (
    DELIVER,
    ENQUEUE_DUE,
    QUEUED,
    RECONCILE,
    Producer,
    celery_settings,
    configure,
)
from notifykit.errors import NotifykitError

if TYPE_CHECKING:
    from notifykit.runtime import Runtime

__all__ = [
    "DELIVER",
    "ENQUEUE_DUE",
    "QUEUED",
    "RECONCILE",
    "Producer",
    "app",
    "celery_settings",
    "configure",
    "deliver_ids",
    "enqueue_due",
]

logger = logging.getLogger("notifykit.celery")


def _settings_from_environment() -> dict[str, Any]:
    """The app's configuration, from the config file ``$NOTIFYKIT_CONFIG`` names: read when
    Celery first needs it (not at import), and only the config (no channel, client or ledger:
    the worker's children build their own runtime after the fork)."""
    path = os.environ.get(CONFIG_ENV)
    if not path:
        return {}
    from notifykit.config.loader import load_config
    from notifykit.plugins import Registry, get_plugin_manager

    config = load_config(path, registry=Registry.from_manager(get_plugin_manager()), dry_run=True)
    if not config.scaleout.celery.broker:
        raise NotifykitError(
            f"{path} has no celery: {{broker: ...}}; add one (redis://host:6379/1 or "
            "amqp://user@host//) to run Celery workers on it"
        )
    return celery_settings(config.scaleout.celery, reconcile_every=config.worker.reconcile_every)


#: the app ``celery -A notifykit.celery worker`` runs (configured from ``$NOTIFYKIT_CONFIG`` when
#: Celery first reads its configuration)
app = Celery("notifykit", set_as_current=False)
app.add_defaults(_settings_from_environment)


@signals.worker_init.connect
def _require_config(**_: Any) -> None:
    if not os.environ.get(CONFIG_ENV):
        raise NotifykitError(
            f"set {CONFIG_ENV} to the notifykit config file before starting a Celery worker "
            "(celery -A notifykit.celery worker)"
        )


# -- the runtime of a worker process ------------------------------------------------------------

_runtime_lock = threading.Lock()
_runtimes: dict[int, Runtime] = {}


def worker_runtime() -> Runtime:
    """This process's runtime (one per process: a forked child builds its own)."""
    with _runtime_lock:
        runtime = _runtimes.get(os.getpid())
        if runtime is None:
            from notifykit.runtime import Runtime

            runtime = Runtime.from_config(os.environ[CONFIG_ENV])
            _runtimes[os.getpid()] = runtime
        return runtime


@signals.worker_process_shutdown.connect
@signals.worker_shutdown.connect
def _close_runtime(**_: Any) -> None:
    with _runtime_lock:
        runtime = _runtimes.pop(os.getpid(), None)
    if runtime is not None:
        runtime.close()


# -- the tasks ----------------------------------------------------------------------------------


@app.task(name=DELIVER, bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=0)
def deliver(self: Any, ids: list[str], queued_by: str) -> dict[str, int]:
    """Deliver the ledger deliveries ``ids`` (one batch) that are still ``pending``."""
    return deliver_ids(worker_runtime(), ids, queued_by, f"celery:{self.request.id}")


@app.task(name=ENQUEUE_DUE, ignore_result=True)
def enqueue_due_task() -> int:
    """Beat's tick: enqueue what became due (retries, groups, escalation steps)."""
    return enqueue_due(worker_runtime())


@app.task(name=RECONCILE, ignore_result=True)
def reconcile_task() -> int:
    """Beat's tick: look up deliveries whose status callback never came."""
    return len(worker_runtime().pipeline.status.reconcile())


def deliver_ids(runtime: Runtime, ids: Sequence[str], queued_by: str, owner: str) -> dict[str, int]:
    """What the task does: take ``ids`` from ``queued_by``, claim them for ``owner`` (a task's
    owner is the same on every delivery of that task), deliver the ones still ``pending``.
    Returns the count of each state they ended in."""
    ledger = runtime.ledger()
    # Back from whoever holds them unstarted: the queue, or this task's own earlier run that
    # died after claiming and before sending. Only 'pending' ones are released.
    ledger.release(owner, ids)
    ledger.release(queued_by, ids)
    lease = runtime.config.worker.lease
    jobs = ledger.claim(owner, runtime.clock(), lease, len(ids), ids=list(ids))
    if not jobs:
        logger.info("task %s: deliveries %s are no longer pending: nothing to do", owner, ids)
        return {}
    run = runtime.deliveries
    # A rate limit's wait may outlast the lease; a lost lease would make 'sending' 'unknown'.
    with run.keeper(owner, lease, [j.id for j in jobs]).running():
        # The ledger unavailable when the answers come back: recording is retried for the lease.
        changes = run.claimed(owner, jobs, ledger.notification, record_for=lease)
    counts: dict[str, int] = {}
    # The last change of each delivery: a fallback made due then sent counts once, as sent.
    for change in {c.delivery.id: c for c in changes}.values():
        counts[change.delivery.state.value] = counts.get(change.delivery.state.value, 0) + 1
    return counts


def enqueue_due(runtime: Runtime, *, batch: int = 500) -> int:
    """Beat's tick: the pipeline's due-work tick (recovery, due groups, due escalation steps),
    then every due delivery claimed for the queue and enqueued; returns how many were
    enqueued."""
    now = runtime.clock()
    due = runtime.pipeline.due
    due.recover(now)
    try:
        due.tick(now)
    except Exception:
        logger.exception("beat: the due-work tick failed; tried again next tick")
    settings = runtime.config.scaleout.celery
    ledger = runtime.ledger()
    producer = runtime.producer
    if producer is None:
        raise NotifykitError("enqueue_due() needs a config with dispatch: celery")
    total = 0
    while True:
        queued_by = f"{QUEUED}{uuid.uuid4().hex}"
        jobs = ledger.claim(queued_by, now, settings.requeue_after, batch)
        if not jobs:
            return total
        groups = [[j.id for j in group] for group in group_batches(jobs)]
        sent = producer.send(groups, queued_by, ledger.release)
        total += sent
        if sent < len(jobs) or len(jobs) < batch:  # the broker is down, or nothing is left
            return total
