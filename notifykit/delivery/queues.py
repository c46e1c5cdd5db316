"""Where stored deliveries wait for a sender, decided once from ``dispatch:``: in the ledger
for ``notifykit worker`` (:class:`LedgerQueue`), or as Celery tasks (:class:`CeleryQueue`, sent by
a :class:`Producer`; the tasks themselves are :mod:`notifykit.celery`'s). An entry point stores
with the queue's :class:`Handoff` and, once committed, hands the :class:`Stored` notifications on
with :meth:`Queue.enqueue`."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from notifykit.delivery.dispatch import group_batches

if TYPE_CHECKING:
    from celery import Celery

    from notifykit.config.scaleout import CelerySettings
    from notifykit.model import Submission
    from notifykit.plan.planner import Plan

__all__ = [
    "DELIVER",
    "ENQUEUE_DUE",
    "QUEUED",
    "RECONCILE",
    "CeleryQueue",
    "Handoff",
    "LedgerQueue",
    "Producer",
    "Queue",
    "Stored",
    "celery_settings",
    "configure",
]

logger = logging.getLogger("notifykit.celery")

DELIVER = "notifykit.deliver"
ENQUEUE_DUE = "notifykit.enqueue_due"
RECONCILE = "notifykit.reconcile"
#: the lease owner of deliveries enqueued and not yet taken by a task
QUEUED = "celery-queue:"


@dataclass(frozen=True)
class Handoff:
    """Who sends what an entry point stores: ``notify()`` leases it to itself until ``until``
    and stores its first groups already ``sending`` (``send_now``), to send them as soon as
    the transaction commits; ``submit()``, the worker's tick and Celery beat leave it to the
    queue (``owner`` ``None``: any worker claims it; Celery's queue owner otherwise)."""

    owner: str | None = None
    until: float | None = None
    send_now: bool = False


@dataclass(frozen=True)
class Stored:
    """A notification stored in the ledger: its plan, its submission, and the deliveries
    stored already ``sending`` (to be sent without asking the ledger again)."""

    plan: Plan
    submission: Submission
    started: tuple[str, ...] = ()


class Queue(Protocol):
    """Where stored deliveries wait for a sender."""

    def handoff(self, now: float) -> Handoff:
        """How a ``submit()`` stores its deliveries."""
        ...

    def enqueue(self, stored: Sequence[Stored], handoff: Handoff, now: float) -> None:
        """Hand what was stored (and committed) to the senders."""
        ...


class LedgerQueue:
    """``dispatch: worker``: deliveries wait in the ledger, unleased, and a worker claims them
    (the ledger wakes idle workers itself)."""

    def handoff(self, now: float) -> Handoff:
        return Handoff()

    def enqueue(self, stored: Sequence[Stored], handoff: Handoff, now: float) -> None:
        return None


class CeleryQueue:
    """``dispatch: celery``: deliveries are stored leased to a queue owner, then sent as Celery
    tasks; what is not taken in time is enqueued again by beat."""

    def __init__(
        self,
        producer: Producer,
        requeue_after: float,
        release: Callable[[str, list[str]], None],
    ) -> None:
        self.producer = producer
        self._requeue_after = requeue_after
        self._release = release

    def handoff(self, now: float) -> Handoff:
        import uuid

        return Handoff(owner=f"{QUEUED}{uuid.uuid4().hex}", until=now + self._requeue_after)

    def enqueue(self, stored: Sequence[Stored], handoff: Handoff, now: float) -> None:
        if handoff.owner is None:
            return  # stored unleased (a tick's work): beat claims and enqueues it
        fresh = [s for s in stored if not s.submission.duplicate]
        jobs = [j for s in fresh for j in s.plan.jobs]
        later = [j.id for j in jobs if j.due > now]
        if later:  # beat enqueues them when due
            self._release(handoff.owner, later)
        due = [j for j in jobs if j.due <= now]
        if due:
            groups = [[j.id for j in group] for group in group_batches(due)]
            self.producer.send(groups, handoff.owner, self._release)


def celery_settings(settings: CelerySettings, *, reconcile_every: float = 60.0) -> dict[str, Any]:
    """The Celery configuration for notifykit's deliveries on ``settings``' broker."""
    return {
        "broker_url": settings.broker,
        "broker_connection_retry_on_startup": True,
        # Redis (and SQS) only: an unacknowledged task is given to another worker after this.
        "broker_transport_options": {"visibility_timeout": settings.visibility_timeout},
        "task_default_queue": settings.queue,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "task_acks_on_failure_or_timeout": True,
        "worker_prefetch_multiplier": 1,
        "task_ignore_result": True,
        "task_serializer": "json",
        "accept_content": ["json"],
        "beat_schedule": {
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
    }


def configure(
    celery_app: Celery, settings: CelerySettings, *, reconcile_every: float = 60.0
) -> None:
    """Set ``celery_app`` up for notifykit's deliveries on ``settings``' broker."""
    celery_app.conf.update(celery_settings(settings, reconcile_every=reconcile_every))


class Producer:
    """Sends delivery tasks to the broker of ``settings``: its Celery app is made on first use
    and closed (its broker connections with it) when ``stack`` closes."""

    def __init__(
        self, settings: CelerySettings, scrub: Callable[[str], str], stack: ExitStack
    ) -> None:
        self._settings = settings
        self._scrub = scrub
        self._stack = stack
        self._app: Celery | None = None
        self._lock = threading.Lock()

    def _celery(self) -> Celery:
        with self._lock:
            if self._app is None:
                from celery import Celery

                self._app = Celery("notifykit-producer", set_as_current=False)
                configure(self._app, self._settings)
                self._stack.callback(_close_producer, self._app)
            return self._app

    def send(
        self, groups: list[list[str]], queued_by: str, release: Callable[[str, list[str]], None]
    ) -> int:
        """One task per group; what could not be sent is released for beat's next tick.
        Returns how many deliveries were enqueued."""
        import uuid

        sender = self._celery()
        sent = 0
        for n, ids in enumerate(groups):
            try:
                sender.send_task(
                    DELIVER,
                    args=[ids, queued_by],
                    task_id=uuid.uuid4().hex,
                    queue=self._settings.queue,
                )
            except Exception as err:
                left = [i for group in groups[n:] for i in group]
                logger.warning(
                    "could not enqueue %d deliveries on Celery (%s: %s); beat enqueues them on "
                    "its next tick",
                    len(left),
                    type(err).__name__,
                    self._scrub(str(err)),
                )
                try:
                    release(queued_by, left)
                except Exception:
                    logger.exception("releasing them failed: they are enqueued after requeue_after")
                return sent
            sent += len(ids)
        return sent


def _close_producer(celery_app: Celery) -> None:
    # app.close() leaves the pooled broker connections open: close them too.
    celery_app.amqp.producer_pool.force_close_all()
    celery_app.pool.force_close_all()
    celery_app.close()
