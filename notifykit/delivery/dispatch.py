"""The dispatcher: executes claimed delivery jobs, ``before_delivery`` → ``channel.send`` →
``after_delivery``, and records every outcome in the ledger.

The order of writes is the project's safety rule: the jobs of a batch are marked ``sending`` and
committed (:meth:`~notifykit.ledger.base.Ledger.begin_send`) before the channel is called, and
their results are recorded after it returns. A crash in between leaves them ``sending``, and
the ledger turns them ``unknown`` when their lease expires: never sent twice, never lost.

A send can be stopped (:class:`~notifykit.channels.stop.SendStop`: Ctrl-C or SIGTERM in the CLI,
:meth:`Worker.stop <notifykit.delivery.worker.Worker.stop>`): a group not started yet is given back
(``pending``, its lease released), a channel starts no new request and reports the recipients it did
not start, which are given back too, and the requests in flight finish and are recorded. When the
stop is *abandoned* (a second signal), the requests still in flight are not waited for: their
deliveries are recorded ``unknown``.

The ledger may be unavailable just when the answers come back (a PostgreSQL restart, a SQLite
file locked by another process): the outcomes are kept in memory and recording them is retried,
with backoff, for up to ``record_for`` seconds (the sender's lease), so what was sent keeps its
provider id instead of ending ``unknown``. Recording late is safe: the ledger records an outcome
only where it is still the sender's to record.

Before a batch goes out, the circuit breaker of its provider account is asked
(:mod:`notifykit.delivery.circuit`): while it is open nothing is sent, each delivery is handed
to its channel's fallback (``failed``, not attempted) or waits ``pending`` for the probe; when the
probe is due, only the batch's first delivery goes out. The batch's results are then counted
against the account. A dry run never asks it.
"""

from __future__ import annotations

import contextvars
import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from notifykit.channels.base import Channel, ChannelType, DeliveryResult, Message, Recipient
from notifykit.channels.stop import Sending, SendStop, current_stop, sending
from notifykit.config.delivery import FailoverSettings
from notifykit.delivery.circuit import SEND, CircuitBreakers, Verdict
from notifykit.delivery.outage import Backoff, Outage
from notifykit.delivery.retry import RetryPolicy
from notifykit.errors import LedgerError, LedgerUnavailable
from notifykit.ledger.outcome import Change, Outcome
from notifykit.metrics import Metrics
from notifykit.model import Delivery, DeliveryState, Notification, assemble
from notifykit.plan.planner import DeliveryJob, Plan

if TYPE_CHECKING:
    from notifykit.ledger.base import Ledger
    from notifykit.plugins import Hooks

__all__ = ["Dispatcher", "group_batches", "job_delivery", "log_outcomes", "planned_delivery"]

logger = logging.getLogger("notifykit")
#: one INFO line per delivery outcome the worker (or a Celery task) records (docs/delivery.md)
outcome_logger = logging.getLogger("notifykit.worker.deliveries")


#: the most deliveries handed to a channel (and written to the ledger) at once: a bulk request
#: takes 100 numbers, and SQL statements stay well under their parameter limits
MAX_GROUP = 1000
#: notify()'s groups: smaller, so that a broadcast of a few hundred numbers is already several
#: groups in flight at once (each group is one begin_send and one record transaction)
NOTIFY_GROUP = 500
#: how many of notify()'s groups are in flight at once: while one group's requests wait for the
#: provider, another's ledger writes run (SQLite and the sockets release the GIL). The account's
#: rate limiter still bounds the requests, whatever the number of threads.
NOTIFY_THREADS = 3
#: how long notify()'s deliveries are leased to it (renewed while it sends:
#: notifykit.delivery.leases.LeaseKeeper); after that, what it left pending is a worker's to send
#: and what it left sending is 'unknown'
NOTIFY_LEASE = 60.0

#: a channel with no ``fallback`` keys
_NO_FAILOVER = FailoverSettings()


def group_batches(jobs: Sequence[DeliveryJob], size: int = MAX_GROUP) -> list[list[DeliveryJob]]:
    """Jobs grouped by batch (one notification and channel), in the order first seen, in groups
    of at most ``size`` (:data:`MAX_GROUP`)."""
    groups: dict[str, list[DeliveryJob]] = {}
    for job in jobs:
        groups.setdefault(job.batch, []).append(job)
    return [group[i : i + size] for group in groups.values() for i in range(0, len(group), size)]


def log_outcomes(changes: Sequence[Change], worker: str) -> None:
    """Log each recorded outcome at INFO on ``notifykit.worker.deliveries``: the delivery and
    notification ids, channel, recipient (its name, not its address), new state, provider id,
    attempt, error (already scrubbed), and for a retry when it is due."""
    if not changes or not outcome_logger.isEnabledFor(logging.INFO):
        return
    for change in changes:
        d = change.delivery
        details = []
        if d.provider_id:
            details.append(f"provider id {d.provider_id}")
        if d.attempts:
            details.append(f"attempt {d.attempts}")
        if d.state is DeliveryState.PENDING and d.due is not None:
            details.append("retry at " + time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(d.due)))
        shown = f" ({', '.join(details)})" if details else ""
        error = f": {d.error}" if d.error else ""
        outcome_logger.info(
            "delivery %s of notification %s: %s -> %s: %s%s%s [worker %s]",
            d.id,
            d.notification_id,
            d.channel,
            d.recipient,
            d.state.value,
            shown,
            error,
            worker,
        )


def _unrecorded(job: DeliveryJob, outcome: Outcome) -> Change:
    delivery = dataclasses.replace(
        job_delivery(job, outcome.state, outcome.error),
        provider_id=outcome.provider_id,
        provider_status=outcome.provider_status,
        info={**job.info, **(outcome.info or {})},
        attempts=job.attempts + (1 if outcome.attempted else 0),
    )
    previous = DeliveryState.SENDING if outcome.attempted else DeliveryState.PENDING
    return Change(delivery, previous, outcome.infrastructure)


def _also_recorded_before(
    changes: list[Change], jobs: Sequence[DeliveryJob], outcomes: Sequence[Outcome]
) -> list[Change]:
    """``changes`` of a record that was retried, with the sent outcomes it found recorded
    already: the failed attempt had committed them (its error came after the commit), so they
    are what the ledger holds. In the outcomes' order."""
    done = {c.delivery.id for c in changes}
    if len(done) == len(outcomes):
        return changes
    by_id = {c.delivery.id: c for c in changes}
    jobs_by_id = {job.id: job for job in jobs}
    merged: list[Change] = []
    for outcome in outcomes:
        change = by_id.get(outcome.delivery_id)
        if change is None and outcome.attempted:
            change = _unrecorded(jobs_by_id[outcome.delivery_id], outcome)
        if change is not None:
            merged.append(change)
    return merged


def _ours(changes: list[Change], outcomes: Sequence[Outcome]) -> list[Change]:
    """``changes`` with the outcomes' ``infrastructure`` (the ledger does not store it)."""
    ours = {o.delivery_id: o.infrastructure for o in outcomes if o.infrastructure is not None}
    if not ours:
        return changes
    return [
        dataclasses.replace(c, infrastructure=ours[c.delivery.id]) if c.delivery.id in ours else c
        for c in changes
    ]


def job_delivery(job: DeliveryJob, state: DeliveryState, error: str | None = None) -> Delivery:
    """The :class:`Delivery` a hook sees for a job before its outcome is recorded."""
    return Delivery(
        channel=job.channel,
        channel_type=job.channel_type,
        recipient=job.recipient,
        address=job.address,
        state=state,
        error=error,
        info=job.info,
        id=job.id,
        notification_id=job.notification_id,
        attempts=job.attempts,
        due=job.due,
        fallback_of=job.fallback_of,
    )


def planned_delivery(job: DeliveryJob) -> Delivery:
    """A job of a plan whose outcome is not recorded (yet), as a report shows it: a standby
    fallback waits ``skipped`` (docs/failover.md), any other is ``pending``."""
    if job.fallback_of is not None and job.skip_reason is not None:
        return job_delivery(job, DeliveryState.SKIPPED, job.skip_reason)
    return job_delivery(job, DeliveryState.PENDING)


class Dispatcher:
    """Sends jobs through their channels and records the outcomes."""

    def __init__(
        self,
        channels: Mapping[str, Channel],
        channel_types: Mapping[str, ChannelType],
        hooks: Hooks,
        scrub: Callable[[str], str],
        retry_for: Callable[[str], RetryPolicy],
        status_url: Callable[[str], str | None],
        clock: Callable[[], float] = time.time,
        metrics: Metrics | None = None,
        failover: Callable[[str], FailoverSettings] | None = None,
        circuits: CircuitBreakers | None = None,
    ) -> None:
        self.channels = channels
        self.channel_types = channel_types
        self.hooks = hooks
        self._scrub = scrub
        self._retry_for = retry_for
        self._status_url = status_url
        self.clock = clock
        self._metrics = metrics or Metrics()
        self._failover = failover or (lambda channel: _NO_FAILOVER)
        #: the provider accounts' circuit breakers (docs/circuit-breaker.md); ``None``: none
        self.circuits = circuits

    # -- dry runs -------------------------------------------------------------------------------

    def dry_run(self, plan: Plan) -> list[Delivery]:
        """What would happen: hooks are asked (a veto shows as ``skipped``), nothing is sent or
        stored; the rest are ``pending``."""
        out: list[Delivery] = []
        for job in plan.jobs:
            if job.skip_reason:
                delivery = job_delivery(job, DeliveryState.SKIPPED, job.skip_reason)
            else:
                veto = self._veto(job, plan.notification)
                if veto is None:
                    delivery = job_delivery(job, DeliveryState.PENDING)
                else:
                    delivery = job_delivery(job, veto.state, veto.error)
            out.append(delivery)
        for delivery in out:
            self.hooks.after_delivery(delivery, plan.notification)
        return out

    # -- real runs ------------------------------------------------------------------------------

    def deliver(
        self,
        ledger: Ledger,
        owner: str,
        jobs: Sequence[DeliveryJob],
        notification: Callable[[str], Notification],
        *,
        retries: bool = True,
        stop: SendStop | None = None,
        record_for: float = 0.0,
        outage: Outage | None = None,
    ) -> list[Change]:
        """Deliver jobs leased to ``owner``, batch by batch; returns every recorded change.
        ``retries``: schedule transient failures again by the channel's retry policy (else they
        are final ``failed``). ``stop``: once stopped, what is not started is given back (see
        the module docstring). ``record_for``: how long recording an outcome is retried while
        the ledger is unavailable (failures reported to ``outage``)."""
        changes: list[Change] = []
        for group in group_batches(jobs):
            first = notification(group[0].notification_id)
            done = self._deliver_batch(
                ledger,
                owner,
                group,
                first,
                retries,
                stop=stop,
                record_for=record_for,
                outage=outage,
            )
            log_outcomes(done, owner)
            self._after(done, first)
            changes.extend(done)
        return changes

    def first_groups(self, jobs: Sequence[DeliveryJob], groups: int = NOTIFY_THREADS) -> list[str]:
        """The ids :meth:`deliver_now` may find stored already ``sending``
        (``Ledger.add(sending=...)``): the sendable jobs of the first ``groups`` groups, the
        ones it sends at once, when no ``before_delivery`` hook could veto them. Not the later
        groups: under a rate limit they may go out after ``notify()``'s lease has expired, and
        a delivery still pending then is a worker's to send, not ``unknown``. Nor the jobs of a
        channel whose account's circuit this process last saw open: they are likely held."""
        if not jobs or self.hooks.implemented("before_delivery"):
            return []
        circuits = self.circuits
        return [
            j.id
            for group in group_batches(jobs, NOTIFY_GROUP)[:groups]
            for j in group
            if not j.skip_reason and (circuits is None or not circuits.seen_open(j.channel))
        ]

    def deliver_now(
        self,
        ledger: Ledger,
        owner: str,
        plan: Plan,
        *,
        started: Collection[str] = (),
        threads: int = NOTIFY_THREADS,
        keep: Callable[[], None] | None = None,
        stop: SendStop | None = None,
        record_for: float = 0.0,
    ) -> list[Change]:
        """``notify()``'s send: every job of ``plan`` (leased to ``owner``), without ledger
        retries, in groups of :data:`NOTIFY_GROUP` of which up to ``threads`` are in flight at
        once, so one group's ledger writes overlap the others' requests. ``started``: ids
        already committed ``sending`` by ``Ledger.add(sending=...)`` (sent without
        ``begin_send`` and without asking the ``before_delivery`` hooks again).

        Each group's ``begin_send`` commits before its own requests go out, and each group's
        outcomes are recorded when its requests are done, as in :meth:`deliver`. A group whose
        ``begin_send`` fails (a ledger error) is not sent: its deliveries stay ``pending`` (a
        worker sends them once ``notify()``'s lease is over) and the report says so; raising
        would hide what the other groups sent, and a caller retrying would page twice. Hooks
        run in the calling thread, group after group, in order; with a ``before_delivery``
        hook the groups are sent one after the other. ``keep``: called as each group starts, to
        keep ``notify()``'s lease on the plan's deliveries
        (:meth:`~notifykit.delivery.leases.LeaseKeeper.keep`). ``record_for``: as
        :meth:`deliver`'s.

        ``stop`` (default: the one :func:`~notifykit.channels.stop.stopping_on` set): once it is
        stopped, no request starts and what was not started is given back, ``pending`` with its
        lease released, for a worker; once abandoned, the requests in flight are recorded
        ``unknown`` without waiting for them. A KeyboardInterrupt in the calling thread stops the
        send (it abandons a stop that can be) before it is raised again: what the channel had
        started is recorded ``unknown``, unless its answer is awaited, and the rest goes back to
        ``pending``."""
        # A standby fallback is not sent with its plan: the ledger makes it due if the
        # delivery it stands in for fails, and the delivery run sends it then.
        groups = group_batches([j for j in plan.jobs if j.fallback_of is None], NOTIFY_GROUP)
        if not groups:
            return []
        notification = plan.notification
        begun = frozenset(started)
        stop = stop or current_stop()
        if stop is not None:
            stop.notifications.append(notification.id)
        # A before_delivery hook is asked in the calling thread, as it always was (a hook
        # written for notify() need not be thread-safe): then the groups go one by one.

        def send_group(group: list[DeliveryJob]) -> list[Change]:
            # ``stop`` read when called: the threads' run below replaces a missing one first
            return self._deliver_batch(
                ledger,
                owner,
                group,
                notification,
                False,
                begun,
                contain=True,
                keep=keep,
                stop=stop,
                record_for=record_for,
            )

        if threads <= 1 or len(groups) == 1 or self.hooks.implemented("before_delivery"):
            changes: list[Change] = []
            for n, group in enumerate(groups):
                try:
                    done = send_group(group)
                except BaseException as err:
                    # KeyboardInterrupt (the group's requests in flight are recorded unknown):
                    # the groups not started are given back before it goes on up.
                    rest = [job for later in groups[n + 1 :] for job in later]
                    self._give_back(ledger, owner, rest, begun, type(err).__name__)
                    raise
                self._after(done, notification)
                changes.extend(done)
            return changes
        from concurrent.futures import ThreadPoolExecutor

        # An interrupt of this thread stops the groups' new requests (the requests in flight
        # finish and are recorded by their groups, as the pool's exit waits for them).
        stop = stop or SendStop(abandonable=False)
        with ThreadPoolExecutor(
            min(threads, len(groups)), thread_name_prefix="notifykit-notify"
        ) as pool:
            futures = [pool.submit(send_group, group) for group in groups]
            changes = []
            try:
                for future in futures:
                    done = future.result()
                    self._after(done, notification)
                    changes.extend(done)
            except BaseException as err:
                # KeyboardInterrupt (or a bug): no group starts a request any more and the
                # groups not started give their deliveries back; each group records itself. A
                # stop that can be abandoned (the CLI's) does not wait for the requests in
                # flight either (recorded unknown).
                if stop.abandonable:
                    stop.abandon(type(err).__name__)
                else:
                    stop.stop(type(err).__name__)
                raise
        return changes

    def _deliver_batch(
        self,
        ledger: Ledger,
        owner: str,
        jobs: list[DeliveryJob],
        notification: Notification,
        retries: bool,
        begun: Collection[str] = (),
        *,
        contain: bool = False,
        keep: Callable[[], None] | None = None,
        stop: SendStop | None = None,
        record_for: float = 0.0,
        outage: Outage | None = None,
    ) -> list[Change]:
        if stop is not None and stop.stopped:  # nothing of it started: all given back
            return self._give_back(ledger, owner, jobs, begun, stop.reason or "")
        outcomes: list[Outcome] = []
        to_send: list[DeliveryJob] = []
        # Asked once per batch (a plugin may be registered at any time): with no
        # before_delivery hook, no pending Delivery is built per job only to be ignored.
        vetoing = self.hooks.implemented("before_delivery")
        sending: list[DeliveryJob] = []
        for job in jobs:
            if job.skip_reason:
                outcomes.append(
                    Outcome(job.id, DeliveryState.SKIPPED, error=job.skip_reason, attempted=False)
                )
                continue
            if job.id in begun:  # committed 'sending' already: it goes out, whatever comes
                sending.append(job)
                continue
            veto = self._veto(job, notification) if vetoing else None
            if veto is not None:
                outcomes.append(veto)
                continue
            to_send.append(job)
        if to_send and stop is not None and stop.stopped:  # stopped while the hooks were asked
            self._give_back(ledger, owner, to_send, (), stop.reason or "")
            to_send = []
        verdict = SEND
        if (to_send or sending) and self.circuits is not None:
            verdict = self.circuits.allow(ledger, jobs[0].channel, owner, self.clock())
            if verdict.action != "send":
                sending, to_send = self._hold(jobs, sending, to_send, verdict, begun, outcomes)
        if to_send:
            mixed = bool(sending)
            if keep is not None:  # still ours when begin_send checks the lease
                keep()
            try:
                started = set(ledger.begin_send(owner, [j.id for j in to_send], self.clock()))
            except LedgerError as err:
                if not contain:
                    raise
                logger.error(
                    "%d deliveries could not be marked sending (%s); they were not sent and "
                    "stay pending in the ledger, for a worker once their lease expires",
                    len(to_send),
                    err,
                )
                started = set()
            # A job whose lease was lost (another worker took it over) is not ours to send.
            sending.extend(j for j in to_send if j.id in started)
            if mixed:  # keep the batch's order
                order = {job.id: n for n, job in enumerate(jobs)}
                sending.sort(key=lambda j: order[j.id])
        if verdict.action == "probe" and not sending and self.circuits is not None:
            self.circuits.release(ledger, verdict, owner, self.clock())
        if sending:
            # Which recipients' requests the channel started, as it says (see channels.stop).
            record = Sending(stop or SendStop(), [j.address for j in sending])
            try:
                stoppable = stop is not None and stop.abandonable
                results = self._send(sending, notification, record, stoppable=stoppable)
            except BaseException as err:
                # Interrupted in this thread (a KeyboardInterrupt) while the channel sent: what
                # it had started may have been sent, the rest was not.
                self._record_interrupted(ledger, owner, sending, type(err).__name__, record)
                raise
            now = self.clock()
            if verdict.key is not None and self.circuits is not None:
                self.circuits.record(ledger, verdict, owner, results, now)
            policy = self._retry_for(jobs[0].channel)  # a batch is one channel's
            outcomes.extend(
                self._outcome(job, result, now, retries, policy)
                for job, result in zip(sending, results, strict=True)
            )
        if not outcomes:
            return []
        if len(outcomes) > len(sending):  # skipped or vetoed ones: back in the batch's order
            order = {job.id: n for n, job in enumerate(jobs)}
            outcomes.sort(key=lambda o: order[o.delivery_id])
        return self._record(ledger, owner, jobs, outcomes, record_for, outage, stop)

    def _hold(
        self,
        jobs: Sequence[DeliveryJob],
        sending: list[DeliveryJob],
        to_send: list[DeliveryJob],
        verdict: Verdict,
        begun: Collection[str],
        outcomes: list[Outcome],
    ) -> tuple[list[DeliveryJob], list[DeliveryJob]]:
        """The jobs of a batch whose account's circuit is not closed (``verdict``): all of them
        held (``skip``), or all but the first (``probe``), as :meth:`_held` outcomes added to
        ``outcomes``; returns what still goes out (``sending``, ``to_send``)."""
        go: set[str] = set()
        if verdict.action == "probe":
            wanted = {j.id for j in sending} | {j.id for j in to_send}
            go = {next(j.id for j in jobs if j.id in wanted)}
        for job in (*sending, *to_send):
            if job.id not in go:
                outcomes.append(self._held(job, verdict, job.id in begun))
        return [j for j in sending if j.id in go], [j for j in to_send if j.id in go]

    def _held(self, job: DeliveryJob, verdict: Verdict, begun: bool) -> Outcome:
        """A job not sent because its account's circuit is open: ``failed`` (no request went
        out) and handed to its channel's fallback when it has one; else left ``pending``, due
        when the circuit may let it through (never failed for it, never lost). ``begun``: it
        was committed ``sending`` already (``notify()``'s first groups): its attempt closes."""
        if self._failover(job.channel).fallback:
            return Outcome(
                job.id, DeliveryState.FAILED, error=verdict.reason, attempted=begun, failover=True
            )
        return Outcome(
            job.id, DeliveryState.PENDING, error=verdict.reason, due=verdict.until, attempted=begun
        )

    def _record(
        self,
        ledger: Ledger,
        owner: str,
        jobs: list[DeliveryJob],
        outcomes: list[Outcome],
        record_for: float,
        outage: Outage | None,
        stop: SendStop | None = None,
    ) -> list[Change]:
        """Record ``outcomes``; while the ledger is unavailable, try again with backoff for up
        to ``record_for`` seconds, or until ``stop`` is abandoned (nothing is waited for then).
        The outcomes wait in memory, the requests are not repeated."""
        backoff = Backoff()
        deadline: float | None = None
        while True:
            began = time.monotonic()
            try:
                recorded = ledger.record(owner, outcomes, self.clock())
            except LedgerUnavailable as err:
                now = time.monotonic()
                if deadline is None:
                    deadline = now + record_for
                    if record_for > 0:
                        if outage is not None:
                            outage.failed(err, began)
                        self._record_waits(len(outcomes), err, record_for, outage is not None)
                delay = backoff.next()
                if now + delay > deadline or (stop is not None and stop.abandoned):
                    error: LedgerError = err
                    break
                self._pause(delay, stop)
            except LedgerError as err:
                error = err
                break
            else:
                if deadline is not None:
                    recorded = _also_recorded_before(recorded, jobs, outcomes)
                return _ours(recorded, outcomes)
        # What was sent stays 'sending' in the ledger and becomes 'unknown' when the lease
        # expires: never resent. The caller and the hooks still learn what happened.
        logger.error(
            "%d outcomes could not be recorded (%s); sent ones stay 'sending' in the ledger "
            "and become 'unknown' when their lease expires",
            len(outcomes),
            error,
        )
        by_id = {job.id: job for job in jobs}
        return [_unrecorded(by_id[o.delivery_id], o) for o in outcomes]

    @staticmethod
    def _pause(seconds: float, stop: SendStop | None) -> None:
        """Wait ``seconds``, less if ``stop`` is abandoned meanwhile."""
        wake = threading.Event()
        if stop is None:
            wake.wait(seconds)
            return
        with stop.waking(wake):
            wake.wait(seconds)

    @staticmethod
    def _record_waits(count: int, err: LedgerError, seconds: float, quiet: bool) -> None:
        """Say that recording waits for the ledger: a worker's outage warning says it once for
        every batch (``quiet``: this line at INFO); ``notify()`` warns for its own batch."""
        logger.log(
            logging.INFO if quiet else logging.WARNING,
            "%d outcomes could not be recorded yet (%s); retrying for up to %gs, the requests "
            "are not repeated",
            count,
            err,
            seconds,
        )

    def _after(self, changes: Sequence[Change], notification: Notification) -> None:
        """The ``after_delivery`` and ``after_status_change`` hooks of a recorded batch."""
        if self.hooks.implemented("after_delivery") or self.hooks.implemented(
            "after_status_change"
        ):
            for change in changes:
                self.hooks.after_delivery(change.delivery, notification)
                if change.delivery.state is not change.previous:
                    self.hooks.after_status_change(change.delivery, change.previous, notification)

    def _veto(self, job: DeliveryJob, notification: Notification) -> Outcome | None:
        pending = job_delivery(job, DeliveryState.PENDING)
        try:
            vetoes = self.hooks.before_delivery(pending, notification)
        except Exception as err:
            logger.exception("a before_delivery hook failed")
            return Outcome(
                job.id,
                DeliveryState.FAILED,
                error=f"before_delivery hook failed: {type(err).__name__}: {self._scrub(str(err))}",
                attempted=False,
            )
        if vetoes:
            return Outcome(job.id, DeliveryState.SKIPPED, error="; ".join(vetoes), attempted=False)
        return None

    def _send(
        self,
        jobs: list[DeliveryJob],
        notification: Notification,
        record: Sending,
        *,
        stoppable: bool = False,
    ) -> list[DeliveryResult]:
        """The channel's results, one per job in order, whatever the channel does. The channel
        sends under ``record`` (its stop, and which requests it started); ``stoppable``: in a
        thread of its own, which an abandon stops waiting for (see :meth:`_send_stoppable`)."""
        first = jobs[0]
        channel = self.channels[first.channel]
        message = Message(
            event=notification.event,
            severity=notification.severity,
            text=first.text,
            template=first.template,
            data=notification.data,
            info=first.info,
            options=first.options,
            status_callback=self._status_url(first.callback_token),
        )
        recipients = [j.recipient_object() for j in jobs]
        started = time.monotonic()
        try:
            if stoppable:
                addresses = [j.address for j in jobs]
                returned = self._send_stoppable(channel, message, recipients, addresses, record)
            else:
                with sending(record):
                    returned = list(channel.send(message, recipients))
        except Exception as err:
            logger.warning(
                "channel %r (%s) raised %s while sending",
                first.channel,
                first.channel_type,
                type(err).__name__,
            )
            error = (
                f"the channel raised {type(err).__name__}: {self._scrub(str(err))}; "
                "it may have sent the message"
            )
            return [DeliveryResult.unknown(r, error) for r in recipients]
        finally:
            self._metrics.sent_batch(first.channel, first.channel_type, time.monotonic() - started)
        # One result per recipient, in order: what channels return (checked by identity, no
        # hashing); else matched by recipient (a channel may reorder them).
        if len(returned) == len(recipients) and all(
            result.recipient is recipient
            for result, recipient in zip(returned, recipients, strict=True)
        ):
            return returned
        positions: dict[Recipient, list[int]] = {}
        for index, recipient in enumerate(recipients):
            positions.setdefault(recipient, []).append(index)
        matched: list[DeliveryResult | None] = [None] * len(recipients)
        for result in returned:
            slots = positions.get(result.recipient)
            if slots:
                matched[slots.pop(0)] = result
        return [
            result
            or DeliveryResult.unknown(
                recipients[i], f"channel {first.channel!r} returned no result for it"
            )
            for i, result in enumerate(matched)
        ]

    @staticmethod
    def _send_stoppable(
        channel: Channel,
        message: Message,
        recipients: list[Recipient],
        addresses: list[str | None],
        record: Sending,
    ) -> list[DeliveryResult]:
        """``channel.send()`` under ``record`` (the channel asks before each request: see
        :mod:`notifykit.channels.stop`), in a daemon thread this one waits for, until the stop
        is abandoned. Then the recipients whose requests were started are ``unknown`` (they may
        have been sent), the others are not started, and the sender is left to finish alone,
        its answer unused (and never a reason to wait at exit)."""
        stop = record.stop
        if stop.stopped:  # stopped since the group began: none of its requests starts
            return [DeliveryResult.not_started(r, stop.reason or "") for r in recipients]
        done = threading.Event()
        box: dict[str, Any] = {}
        context = contextvars.copy_context()  # the caller's context (logging, tracing...)

        def send() -> None:
            try:
                with sending(record):
                    box["results"] = list(channel.send(message, recipients))
            except BaseException as err:  # handed to the waiting thread
                box["error"] = err
            finally:
                done.set()

        with stop.waking(done):
            threading.Thread(
                target=context.run, args=(send,), name="notifykit-send", daemon=True
            ).start()
            done.wait()
        if "results" in box:
            return list(box["results"])
        if "error" in box:
            raise box["error"]
        error = (
            f"interrupted ({stop.reason}) while its request was in flight, without waiting for "
            "the answer: it may have been sent; check with the provider before sending it again"
        )
        return [
            DeliveryResult.unknown(r, error)
            if record.may_have_started(address)
            else DeliveryResult.not_started(r, stop.reason or "")
            for r, address in zip(recipients, addresses, strict=True)
        ]

    def _give_back(
        self,
        ledger: Ledger,
        owner: str,
        jobs: Sequence[DeliveryJob],
        begun: Collection[str],
        reason: str,
    ) -> list[Change]:
        """Jobs of a stopped send that never started: their leases are released at once, and
        those already committed ``sending`` (by ``Ledger.add(sending=...)``) go back to
        ``pending`` (their attempt closed, nothing sent). A worker sends them."""
        if not jobs:
            return []
        error = f"not sent: stopped ({reason}) before its request went out"
        outcomes = [
            Outcome(j.id, DeliveryState.PENDING, error=error) for j in jobs if j.id in begun
        ]
        unbegun = [j.id for j in jobs if j.id not in begun]
        changes: list[Change] = []
        try:
            if unbegun:
                ledger.release(owner, unbegun)
            if outcomes:
                changes = ledger.record(owner, outcomes, self.clock())
        except LedgerError as err:
            logger.error(
                "%d deliveries not sent (stopped) could not be given back (%s); they stay "
                "leased, and go to a worker once their lease expires",
                len(jobs),
                err,
            )
        return changes

    def _record_interrupted(
        self,
        ledger: Ledger,
        owner: str,
        jobs: Sequence[DeliveryJob],
        reason: str,
        record: Sending,
    ) -> None:
        """Record the jobs of a send interrupted in this thread: ``unknown`` for those whose
        requests the channel had started (they may have been sent), back to ``pending`` for the
        others. On failure they are left ``sending``, which the ledger makes ``unknown`` when
        their lease expires."""
        error = (
            f"interrupted ({reason}) while its request was in flight: it may have been sent; "
            "check with the provider before sending it again"
        )
        not_sent = f"not sent: interrupted ({reason}) before its request went out"
        outcomes = [
            Outcome(j.id, DeliveryState.UNKNOWN, error=error)
            if record.may_have_started(j.address)
            else Outcome(j.id, DeliveryState.PENDING, error=not_sent)
            for j in jobs
        ]
        try:
            ledger.record(owner, outcomes, self.clock())
        except Exception as err:  # a second interrupt, a ledger error: the lease covers it
            logger.error("%d interrupted deliveries could not be recorded: %s", len(jobs), err)

    def _outcome(
        self,
        job: DeliveryJob,
        result: DeliveryResult,
        now: float,
        retries: bool,
        policy: RetryPolicy | None = None,
    ) -> Outcome:
        error = self._scrub(result.error) if result.error else None
        info = dict(result.info) if result.info else None
        state = result.state
        if state is DeliveryState.SENT:
            # The common answer, once per recipient of a broadcast: no retry, no failover (a
            # sent message never falls over), and every field given without the frozen
            # __init__'s per-field cost (model.assemble).
            return assemble(
                Outcome,
                {
                    "delivery_id": job.id,
                    "state": state,
                    "provider_id": result.provider_id,
                    "provider_status": result.provider_status,
                    "error": error,
                    "info": info,
                    "due": None,
                    "attempted": True,
                    "infrastructure": None,
                    "failover": False,
                },
            )
        ours = result.infrastructure if state is DeliveryState.FAILED else None
        # not sent: the retry policy decides (the common answer, sent, needs none)
        attempts = job.attempts + 1
        policy = policy or self._retry_for(job.channel)
        # Our own infrastructure failing is retried even by notify(), which sends once:
        # left pending, a worker sends it once the part is back.
        retry = (retries or ours is not None) and (
            (state is DeliveryState.FAILED and result.transient)
            or (
                state is DeliveryState.UNKNOWN
                and (policy.resend_unknown or result.idempotent)  # same key: never twice
            )
        )
        if retry:
            due = policy.next_due(attempts, job.first_due or job.due, now, result.retry_after)
            if due is not None:
                return Outcome(
                    job.id,
                    DeliveryState.PENDING,
                    error=error,
                    info=info,
                    due=due,
                    infrastructure=ours,
                )
            note = f"gave up after {attempts} attempt{'s' if attempts != 1 else ''}: retry deadline passed"
            error = f"{error} ({note})" if error else note
        return Outcome(
            job.id,
            state,
            provider_id=result.provider_id,
            provider_status=result.provider_status,
            error=error,
            info=info,
            infrastructure=ours,
            failover=self._fails_over(job.channel, result),
        )

    def _fails_over(self, channel: str, result: DeliveryResult) -> bool:
        """Whether a final result hands the message to the channel's fallback: a failure on
        the provider's side or ours (never the recipient's), or an ``unknown`` one when the
        channel says ``fallback_on_unknown`` (it may page twice)."""
        settings = self._failover(channel)
        if not settings.fallback:
            return False
        if result.state is DeliveryState.UNKNOWN:
            return settings.fallback_on_unknown
        return result.provider_side
