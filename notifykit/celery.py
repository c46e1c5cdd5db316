"""Deliveries on Celery: ``dispatch: celery`` in the config, ``celery -A notifykit.celery worker``.

Celery carries *which* deliveries to make; the ledger stays the one record of what was made, so
exactly-once effects keep coming from the ledger's leases and never from the broker (every broker
is at best at-least-once):

- :func:`submit` (what ``kit.submit()`` does with ``dispatch: celery``) commits the notification
  with its deliveries leased to a *queue owner* for ``celery.requeue_after``, then sends one task
  per batch (one notification and channel). A task lost on the way (a broker down, a message
  dropped) is harmless: the lease runs out and the beat task enqueues the deliveries again.
- The task (:data:`DELIVER`) takes the deliveries back from the queue owner, claims them with a
  lease of its own (``claim(ids=...)``: only ``pending`` ones are claimed), renews the lease while
  it sends, and records every outcome. A task delivered twice (a worker killed before the ack,
  Redis's visibility timeout) finds its deliveries ``sending``, ``sent`` or final and does
  nothing; those left ``sending`` by a killed worker become ``unknown`` after their lease, never
  resent.
- Due-later work (retries, escalation steps) is enqueued by :data:`ENQUEUE_DUE`, which **Celery
  beat** runs every ``celery.enqueue_every``: it recovers what dead workers left ``sending``,
  claims what is due for the queue owner and sends the tasks. Beat rather than a process of our
  own because a Celery deployment runs beat already (or ``worker -B``), and because the claim
  makes it safe to run two by mistake: a delivery is enqueued by whichever claims it. Retries are
  scheduled in the ledger (``due``), never as Celery countdowns, so they survive a broker's loss
  and obey the channel's retry policy.

Celery is configured for this work: ``acks_late`` (the ack comes after the outcome is recorded),
``reject_on_worker_lost`` (a killed worker's task goes back to the queue), prefetch 1 (a worker
holds one task beyond the ones it runs), results ignored, JSON only. Works with Redis
(``redis://``) and RabbitMQ (``amqp://``) brokers. Workers read the config ``NOTIFYKIT_CONFIG``
names, with its secrets in their environment, and build one :class:`~notifykit.Notifier` per
process (after the fork).
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
from notifykit.errors import NotifykitError
from notifykit.worker.dispatch import group_batches

if TYPE_CHECKING:
    from notifykit.config.scaleout import CelerySettings
    from notifykit.notifier import Notifier
    from notifykit.plan.planner import Plan
    from notifykit.report import Submission

__all__ = [
    "DELIVER",
    "ENQUEUE_DUE",
    "RECONCILE",
    "app",
    "configure",
    "deliver_ids",
    "enqueue_due",
    "submit",
]

logger = logging.getLogger("notifykit.celery")

DELIVER = "notifykit.deliver"
ENQUEUE_DUE = "notifykit.enqueue_due"
RECONCILE = "notifykit.reconcile"
#: the lease owner of deliveries enqueued and not yet taken by a task
QUEUED = "celery-queue:"


def configure(
    celery_app: Celery, settings: CelerySettings, *, reconcile_every: float = 60.0
) -> None:
    """Set ``celery_app`` up for notifykit's deliveries on ``settings``' broker."""
    celery_app.conf.update(
        broker_url=settings.broker,
        broker_connection_retry_on_startup=True,
        # Redis (and SQS) only: an unacknowledged task is given to another worker after this.
        broker_transport_options={"visibility_timeout": settings.visibility_timeout},
        task_default_queue=settings.queue,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_acks_on_failure_or_timeout=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        beat_schedule={
            "notifykit-enqueue-due": {
                "task": ENQUEUE_DUE,
                "schedule": settings.enqueue_every,
                # a tick that waited longer than a few intervals is stale: the next one does it
                "options": {"expires": max(5.0, settings.enqueue_every * 5)},
            },
            "notifykit-reconcile": {
                "task": RECONCILE,
                "schedule": reconcile_every,
                "options": {"expires": reconcile_every},
            },
        },
    )


def _app_from_environment() -> Celery:
    celery_app = Celery("notifykit", set_as_current=False)
    path = os.environ.get(CONFIG_ENV)
    if path:
        # The settings only: the worker's children build their own Notifier after the fork.
        from notifykit.notifier import Notifier

        kit = Notifier.from_config(path)
        try:
            configure(
                celery_app,
                kit.config.scaleout.celery,
                reconcile_every=kit.config.worker.reconcile_every,
            )
            if not kit.config.scaleout.celery.broker:
                raise NotifykitError(
                    f"{path} has no celery: {{broker: ...}}; add one (redis://host:6379/1 or "
                    "amqp://user@host//) to run Celery workers on it"
                )
        finally:
            kit.close()
    return celery_app


#: the app ``celery -A notifykit.celery worker`` runs (configured from ``$NOTIFYKIT_CONFIG``)
app = _app_from_environment()


@signals.worker_init.connect
def _require_config(**_: Any) -> None:
    if not os.environ.get(CONFIG_ENV):
        raise NotifykitError(
            f"set {CONFIG_ENV} to the notifykit config file before starting a Celery worker "
            "(celery -A notifykit.celery worker)"
        )


# -- the Notifier of a worker process -----------------------------------------------------------

_kit_lock = threading.Lock()
_kits: dict[int, Notifier] = {}


def worker_kit() -> Notifier:
    """This process's Notifier (one per process: a forked child builds its own)."""
    with _kit_lock:
        kit = _kits.get(os.getpid())
        if kit is None:
            from notifykit.notifier import Notifier

            kit = Notifier.from_config(os.environ[CONFIG_ENV])
            _kits[os.getpid()] = kit
        return kit


@signals.worker_process_shutdown.connect
@signals.worker_shutdown.connect
def _close_kit(**_: Any) -> None:
    with _kit_lock:
        kit = _kits.pop(os.getpid(), None)
    if kit is not None:
        kit.close()


# -- the tasks ----------------------------------------------------------------------------------


@app.task(name=DELIVER, bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=0)
def deliver(self: Any, ids: list[str], queued_by: str) -> dict[str, int]:
    """Deliver the ledger deliveries ``ids`` (one batch) that are still ``pending``."""
    return deliver_ids(worker_kit(), ids, queued_by, f"celery:{self.request.id}")


@app.task(name=ENQUEUE_DUE, ignore_result=True)
def enqueue_due_task() -> int:
    """Beat's tick: enqueue what became due (retries, escalation steps)."""
    return enqueue_due(worker_kit())


@app.task(name=RECONCILE, ignore_result=True)
def reconcile_task() -> int:
    """Beat's tick: look up deliveries whose status callback never came."""
    return len(worker_kit().reconcile())


def deliver_ids(kit: Notifier, ids: Sequence[str], queued_by: str, owner: str) -> dict[str, int]:
    """What the task does: take ``ids`` from ``queued_by``, claim them for ``owner`` (a task's
    owner is the same on every delivery of that task), deliver the ones still ``pending``.
    Returns the count of each state they ended in."""
    ledger = kit.ledger
    # Back from whoever holds them unstarted: the queue, or this task's own earlier run that
    # died after claiming and before sending. Only 'pending' ones are released.
    ledger.release(owner, ids)
    ledger.release(queued_by, ids)
    lease = kit.config.worker.lease
    jobs = ledger.claim(owner, kit.clock(), lease, len(ids), ids=list(ids))
    if not jobs:
        logger.info("task %s: deliveries %s are no longer pending: nothing to do", owner, ids)
        return {}
    done = threading.Event()
    claimed = [j.id for j in jobs]

    def renew() -> None:
        # A rate limit's wait may outlast the lease; a lost lease would make 'sending' 'unknown'.
        while not done.wait(max(0.05, lease / 3)):
            try:
                ledger.renew(owner, claimed, kit.clock() + lease)
            except Exception:
                logger.exception("task %s: renewing leases failed", owner)

    renewer = threading.Thread(target=renew, name=f"{owner}-lease", daemon=True)
    renewer.start()
    try:
        changes = kit.dispatcher.deliver(ledger, owner, jobs, ledger.notification)
    finally:
        done.set()
        renewer.join(timeout=5)
    counts: dict[str, int] = {}
    for change in changes:
        counts[change.delivery.state.value] = counts.get(change.delivery.state.value, 0) + 1
    return counts


# -- the producer side -------------------------------------------------------------------------


def producer(kit: Notifier) -> Celery:
    """The Celery app that sends ``kit``'s tasks to its broker: one per Notifier, closed (its
    broker connections with it) when the Notifier closes."""
    with _kit_lock:
        found: Celery | None = getattr(kit, "_celery_producer", None)
        if found is None:
            found = Celery("notifykit-producer", set_as_current=False)
            configure(found, kit.config.scaleout.celery)
            kit._celery_producer = found  # type: ignore[attr-defined]
            kit._exit_stack.callback(_close_producer, found)
        return found


def _close_producer(celery_app: Celery) -> None:
    # app.close() leaves the pooled broker connections open: close them too.
    celery_app.amqp.producer_pool.force_close_all()
    celery_app.pool.force_close_all()
    celery_app.close()


def _send(kit: Notifier, groups: list[list[str]], queued_by: str) -> int:
    """One task per group; what could not be sent is released for beat's next tick. Returns
    how many deliveries were enqueued."""
    settings = kit.config.scaleout.celery
    sender = producer(kit)
    sent = 0
    for n, ids in enumerate(groups):
        try:
            sender.send_task(
                DELIVER, args=[ids, queued_by], task_id=uuid.uuid4().hex, queue=settings.queue
            )
        except Exception as err:
            left = [i for group in groups[n:] for i in group]
            logger.warning(
                "could not enqueue %d deliveries on Celery (%s: %s); beat enqueues them on its "
                "next tick",
                len(left),
                type(err).__name__,
                kit._scrub(str(err)),
            )
            try:
                kit.ledger.release(queued_by, left)
            except Exception:
                logger.exception("releasing them failed: they are enqueued after requeue_after")
            return sent
        sent += len(ids)
    return sent


def submit(kit: Notifier, plan: Plan) -> Submission:
    """Commit the plan to the ledger, then enqueue its due deliveries as Celery tasks."""
    settings = kit.config.scaleout.celery
    now = kit.clock()
    queued_by = f"{QUEUED}{uuid.uuid4().hex}"
    submission = kit.ledger.add(
        plan, lease_owner=queued_by, lease_until=now + settings.requeue_after
    )
    if submission.duplicate:
        return submission
    later = [j.id for j in plan.jobs if j.due > now]
    if later:  # beat enqueues them when due
        kit.ledger.release(queued_by, later)
    due = [j for j in plan.jobs if j.due <= now]
    _send(kit, [[j.id for j in group] for group in group_batches(due)], queued_by)
    return submission


def enqueue_due(kit: Notifier, *, batch: int = 500) -> int:
    """Recover what dead workers left ``sending``, plan due escalation steps and alert groups,
    then claim every due delivery for the queue and enqueue it; returns how many were enqueued."""
    now = kit.clock()
    kit._recover(now)
    # Escalation steps and waiting alert groups that are due become deliveries first, so they
    # are enqueued below like any other (the worker's loop does the same).
    try:
        kit.router.tick(now)
    except Exception:
        logger.exception("beat: planning due escalation steps failed; tried again next tick")
    settings = kit.config.scaleout.celery
    total = 0
    while True:
        queued_by = f"{QUEUED}{uuid.uuid4().hex}"
        jobs = kit.ledger.claim(queued_by, now, settings.requeue_after, batch)
        if not jobs:
            return total
        sent = _send(kit, [[j.id for j in group] for group in group_batches(jobs)], queued_by)
        total += sent
        if sent < len(jobs) or len(jobs) < batch:  # the broker is down, or nothing is left
            return total
