"""The escalation stage: an escalation receiver's alerts page person after person, by their
policy's steps, until someone acknowledges or the alert resolves (PagerDuty's and Opsgenie's
model; Alertmanager leaves this to them).

- :meth:`Escalations.begin`: a group of an escalation receiver that newly fires starts an
  escalation: every step stored ``pending`` with its due time, those due now fired at once.
- :meth:`Escalations.fire`: the steps due are planned **when due** (so each renders with the
  config and recipients of that moment), each marked ``sent`` in the transaction that stores its
  notification: a restarted worker loses none and repeats none. A step that can no longer be
  planned (its recipient left the config) is skipped, loudly; one whose planning failed for
  another reason is tried again later, with backoff; the other steps and alerts go on.
- :meth:`Escalations.ack`, :meth:`ack_token`, :meth:`stop`: acknowledgement and resolution
  cancel the pending steps and the deliveries of steps not yet started.
- :meth:`ack` with ``snooze``: an escalation paused for a while, its next step going out when
  the snooze ends; :meth:`wake`: at the tick, a snoozed escalation resumes and an acknowledged one whose
  policy has an ``ack_timeout`` re-opens (PagerDuty's acknowledgement timeout), starting again
  from its first step, unless its alerts were resolved first.
- :meth:`on_changes`, :meth:`on_status`: the status stage's outcomes — a failed step brings the
  next one forward at once; an answered call acknowledges when the policy says
  ``ack_on_answer``.

Each acknowledgement, resolution and escalation brought forward writes its row of the audit
trail (:mod:`notifykit.ledger.audit`) in the transaction that does it: who (the person given,
the one the ack link was sent to, the one who answered the call) and through which path.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from notifykit.errors import NobodyOnCallError, NotifykitError
from notifykit.ledger.audit import (
    ACKNOWLEDGED,
    ESCALATED,
    REOPENED,
    RESOLVED,
    RESUMED,
    SNOOZED,
    SYSTEM,
    Acting,
    mask_numbers,
)
from notifykit.metrics import Metrics
from notifykit.model import DeliveryState
from notifykit.routing.alert import AlertKey
from notifykit.routing.escalation import DEFAULT_KEYS
from notifykit.routing.escalation import plan as plan_steps

if TYPE_CHECKING:
    from notifykit.channels.base import StatusUpdate
    from notifykit.ledger.outcome import Change
    from notifykit.ledger.state import EscalationRecord, Group, RoutingState, StepRecord, Unit
    from notifykit.pipeline.messages import Messages
    from notifykit.pipeline.stages import Flush
    from notifykit.pipeline.store import Handoff, Store, Stored
    from notifykit.routing.escalation import EscalationPolicy, Receiver

__all__ = ["ACK_SIGNATURE_CHARS", "AckLink", "AckLinks", "Escalations", "retry_delay"]

logger = logging.getLogger("notifykit.routing")

#: the length of an ack link's signature (base64url characters: 96 bits)
ACK_SIGNATURE_CHARS = 16
#: a step or group whose planning failed is tried again after 30 s, doubling up to 15 min
RETRY_FIRST = 30.0
RETRY_MAX = 900.0


def retry_delay(failures: int) -> float:
    """How long after its ``failures``-th failed attempt a step or group flush is tried again."""
    return float(min(RETRY_MAX, RETRY_FIRST * 2 ** max(0, failures - 1)))


class AckLinks:
    """The signed links that acknowledge an escalation:
    ``<public_url>/ack/<ack id>.<loop>.<step><signature>``, an HMAC-SHA256 of the escalation's
    random ack id and the step whose message carried the link, with a secret kept in the ledger.
    The step says whose link it was (the page acknowledges in their name); a link without one
    (``<ack id><signature>``, made before links named their step) still acknowledges."""

    def __init__(self, public_url: str | None, secret: Callable[[], str]) -> None:
        self._public_url = public_url
        self._read_secret = secret
        self._secret: bytes | None = None

    @property
    def enabled(self) -> bool:
        return bool(self._public_url)

    def prime(self) -> None:
        """Read the secret now, outside any transaction (a step is planned inside one)."""
        if self._public_url and self._secret is None:
            self._secret = self._read_secret().encode()

    def _sign(self, ack_id: str) -> str:
        if self._secret is None:
            self._secret = self._read_secret().encode()
        digest = hmac.new(self._secret, ack_id.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode()[:ACK_SIGNATURE_CHARS]

    def url(self, ack_id: str, step: tuple[int, int] | None = None) -> str | None:
        """The link (``None`` without ``server.public_url``); ``step``: the ``(loop, index)``
        of the step whose message carries it."""
        if not self._public_url:
            return None
        signed = ack_id if step is None else f"{ack_id}.{step[0]}.{step[1]}"
        return f"{self._public_url}/ack/{signed}{self._sign(signed)}"

    def parse(self, token: str) -> tuple[str, tuple[int, int] | None] | None:
        """``(ack id, step or None)`` of a link's token when its signature is genuine (else
        ``None``)."""
        if len(token) <= ACK_SIGNATURE_CHARS:
            return None
        signed, signature = token[:-ACK_SIGNATURE_CHARS], token[-ACK_SIGNATURE_CHARS:]
        if not hmac.compare_digest(self._sign(signed), signature):
            return None
        ack_id, _, step = signed.partition(".")
        if not step:
            return ack_id, None
        loop, _, index = step.partition(".")
        if not (loop.isdigit() and index.isdigit()):
            return None
        return ack_id, (int(loop), int(index))

    def ack_id(self, token: str) -> str | None:
        """The ack id a link's token names, when its signature is genuine (else ``None``)."""
        parsed = self.parse(token)
        return None if parsed is None else parsed[0]


@dataclass(frozen=True)
class AckLink:
    """What an ack link names: its escalation (as it stands now), the step whose message
    carried it, and that step's recipients (the people the link was sent to; empty when the
    link names no step)."""

    escalation: EscalationRecord
    step: tuple[int, int] | None
    recipients: tuple[str, ...]


def _at(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, timezone.utc)


def _duration(seconds: float) -> str:
    from notifykit.routing.tree import format_duration

    return format_duration(seconds)


class Escalations:
    """The escalation stage (see the module docstring)."""

    def __init__(
        self,
        *,
        policies: Mapping[str, EscalationPolicy],
        receivers: Mapping[str, Receiver],
        messages: Messages,
        store: Store,
        links: AckLinks,
        state: Callable[[], RoutingState],
        clock: Callable[[], float],
        scrub: Callable[[str], str],
        metrics: Metrics | None = None,
    ) -> None:
        self._policies = policies
        self._receivers = receivers
        self._messages = messages
        self._store = store
        self.links = links
        self._state = state
        self._clock = clock
        self._scrub = scrub
        self._metrics = metrics or Metrics()

    @property
    def configured(self) -> bool:
        return bool(self._policies)

    # -- at a flush ---------------------------------------------------------------------------------

    def begin(
        self, unit: Unit, group: Group, flush: Flush, receiver: Receiver, handoff: Handoff
    ) -> list[Stored]:
        """Start the escalation of a group that newly fires; the steps due now go out now."""
        policy = self._policies[receiver.escalation or ""]
        now = flush.now
        start = _at(now)
        # Offsets added to the epoch itself: a round trip through datetime rounds to
        # microseconds, and the step due "now" could land just after now.
        steps = tuple(
            (s.loop, s.index, now + (s.due - start).total_seconds())
            for s in plan_steps(policy, start)
        )
        alert = flush.firing[-1].alert
        record = unit.start_escalation(receiver.name, group.key, policy.name, steps, alert, now)
        group.escalation = record
        logger.info(
            "escalation %s (%s) started for %s by policy %s",
            record.id,
            record.key,
            receiver.name,
            policy.name,
        )
        return self.fire(unit, record, now, handoff)

    def end(
        self,
        group: Group,
        flush: Flush,
        receiver: Receiver,
        handoff: Handoff,
        acting: Acting = SYSTEM,
    ) -> list[Stored]:
        """A group of an escalation receiver whose alerts all resolved: its escalation stops
        (if it still runs: ``acting`` resolved it) and, with ``send_resolved``, everyone its
        steps could reach is told it is over, through the first step's channels."""
        unit = group.unit
        if group.escalation is not None:
            self.stop(unit, [group.escalation], "resolved", flush.now, acting)
            group.escalation = None
        if not (group.route.settings.send_resolved and flush.resolved):
            return []
        policy = self._policies.get(receiver.escalation or "")
        if policy is None:
            return []
        targets = tuple(dict.fromkeys(t for s in policy.steps for t in s.to))
        channels = tuple(dict.fromkeys(policy.steps[0].channels))
        members = [m.alert for m in flush.resolved]
        try:
            plan = self._messages.plan(
                receiver, group.key, members, members[-1], channels=channels, to=targets
            )
        except NobodyOnCallError as err:
            flush.notes.append(f"{receiver.name}: resolved message skipped: {err}")
            logger.warning(
                "group %s of %s: resolved message skipped: %s", group.key, receiver.name, err
            )
            return []
        return [self._store(unit, plan, handoff, str(group.key))]

    # -- steps --------------------------------------------------------------------------------------

    def fire(
        self, unit: Unit, record: EscalationRecord, now: float, handoff: Handoff
    ) -> list[Stored]:
        """Plan and store the steps of ``record`` due by ``now``. Steps of an escalation no
        longer active are cancelled; those of a snoozed one wait for it to resume. A step whose
        targets are on-call schedules with nobody on call, or whose calls all go to people over
        their ``call`` paging limit, is skipped (``skipped: nobody on call``, ``skipped: paging
        limit``) and the next step comes forward to now."""
        if record.state == "snoozed":
            return []  # a snoozed escalation's steps wait for it to resume
        stored: list[Stored] = []
        first = True
        while True:
            steps = unit.due_steps(record.id, now)
            if not steps:
                if first:
                    return []
                break
            first = False
            if record.state != "active":
                for step in steps:
                    unit.mark_step(step, "cancelled")
                return []
            done, brought_forward = self._fire_steps(unit, record, steps, now, handoff)
            stored.extend(done)
            if not brought_forward:
                break
        unit.finish_if_done(record)
        return stored

    def _fire_steps(
        self,
        unit: Unit,
        record: EscalationRecord,
        steps: Sequence[StepRecord],
        now: float,
        handoff: Handoff,
    ) -> tuple[list[Stored], bool]:
        """Plan and store ``steps``; ``True`` beside what was stored when one was skipped
        because nobody was on call and the next step was brought forward (it fires now too)."""
        brought_forward = False
        stored: list[Stored] = []
        policy = self._policies.get(record.policy)
        receiver = self._receivers.get(record.receiver)
        for step in steps:
            if policy is None or receiver is None or step.index >= len(policy.steps):
                logger.error(
                    "escalation %s (%s): policy %r or receiver %r is no longer configured; "
                    "step %d.%d skipped",
                    record.id,
                    record.key,
                    record.policy,
                    record.receiver,
                    step.loop,
                    step.index,
                )
                unit.mark_step(step, "skipped")
                continue
            configured = policy.steps[step.index]
            try:
                plan = self._messages.plan(
                    receiver,
                    AlertKey(record.key),
                    (record.alert,),
                    record.alert,
                    ack_url=self.links.url(record.ack_id, (step.loop, step.index)),
                    channels=configured.channels,
                    to=configured.to,
                    fallback=configured.fallback,
                )
            except NobodyOnCallError as err:
                moved = self._not_reached(unit, record, step, now, str(err))
                brought_forward = brought_forward or moved
                continue
            except NotifykitError as err:
                # The config changed under a running escalation (a recipient removed...): said
                # loudly, and the next steps still fire.
                logger.error(
                    "escalation %s (%s) step %d.%d cannot be planned, skipped: %s",
                    record.id,
                    record.key,
                    step.loop,
                    step.index,
                    self._scrub(str(err)),
                )
                unit.mark_step(step, "skipped")
                continue
            except Exception as err:
                failures = step.failures + 1
                delay = retry_delay(failures)
                logger.error(
                    "escalation %s (%s) step %d.%d failed to plan (%s: %s); tried again in %gs",
                    record.id,
                    record.key,
                    step.loop,
                    step.index,
                    type(err).__name__,
                    self._scrub(str(err)),
                    delay,
                )
                unit.mark_step(step, "pending", due_at=now + delay, failures=failures)
                continue
            guard = self._store.guard
            if guard is not None and guard:
                plan, over = guard.calls_over(unit, plan, now)
                if over and all(j.skip_reason is not None for j in plan.jobs):
                    # Everyone the step calls is over their call limit: it reaches nobody.
                    reason = f"paging limit: {', '.join(over)} over the call limit"
                    moved = self._not_reached(unit, record, step, now, reason)
                    brought_forward = brought_forward or moved
                    continue
            plan = dataclasses.replace(plan, step=f"{step.loop}.{step.index}")
            done = self._store(unit, plan, handoff, record.key)
            unit.mark_step(step, "sent", done.submission.id)
            stored.append(done)
        return stored, brought_forward

    def _not_reached(
        self, unit: Unit, record: EscalationRecord, step: StepRecord, now: float, reason: str
    ) -> bool:
        """A step that reaches nobody (nobody on call, everyone over their call limit) is
        skipped, said loudly and audited; ``True`` when the next step was brought forward to
        now."""
        unit.mark_step(step, "skipped")
        where = f"step {step.loop}.{step.index}"
        moved = unit.advance(record, now)
        left = bool(moved or unit.due_steps(record.id, math.inf))
        then = "the next step goes out now" if left else "no step is left: nobody paged"
        # Nobody paged at all is worth more than a warning.
        logger.log(
            logging.WARNING if left else logging.ERROR,
            "escalation %s (%s) %s skipped: %s; %s",
            record.id,
            record.key,
            where,
            reason,
            then,
        )
        unit.audit(
            ESCALATED,
            SYSTEM,
            {**_target(record), "step": f"{step.loop}.{step.index}"},
            now,
            f"{where} skipped: {reason}; {then}",
        )
        return bool(moved)

    def fire_due(self, escalation_id: str, now: float, handoff: Handoff) -> list[Stored]:
        """The tick's part: one escalation's due steps, in a transaction of their own."""
        with self._state().unit("firing escalation steps") as unit:
            record = unit.escalation(escalation_id)
            if record is None:
                return []
            if record.wake_at is not None and record.wake_at <= now:
                record = self.wake(unit, record, now)
            return self.fire(unit, record, now, handoff)

    def wake(self, unit: Unit, record: EscalationRecord, now: float) -> EscalationRecord:
        """A snoozed escalation resumes (its next step is due now; out of steps, it starts
        again from the first), an acknowledged one re-opens by its ``ack_timeout`` and starts
        again from the first step: unless no alert of its group is open any more (resolved, or
        timed out), when it stays as it is."""
        if record.state not in ("acked", "snoozed"):
            return record
        if not unit.open_members(record):
            unit.sleep(record)
            return record
        policy = self._policies.get(record.policy)
        pending = unit.due_steps(record.id, float("inf")) if record.state == "snoozed" else []
        steps: list[tuple[int, int, float]] = []
        if policy is not None and not pending:
            start = _at(now)
            steps = [
                (s.loop, s.index, now + (s.due - start).total_seconds())
                for s in plan_steps(policy, start)
            ]
        snoozed = record.state == "snoozed"
        woken = unit.wake(record, steps)
        if snoozed:
            action, detail = RESUMED, "the snooze ended: the escalation goes on"
        else:
            timeout = policy.ack_timeout if policy is not None else None
            action = REOPENED
            detail = (
                f"acknowledged by {record.acked_by or 'someone'} and not resolved within "
                f"ack_timeout {_duration(timeout or now - (record.acked_at or now))}: the "
                "escalation starts again from its first step"
            )
        if steps and snoozed:
            detail += " (from its first step: it had no step left)"
        unit.audit(action, SYSTEM, _target(record), now, detail)
        logger.warning("escalation %s (%s) %s: %s", record.id, record.key, action, detail)
        return woken

    # -- stopping -----------------------------------------------------------------------------------

    def stop(
        self,
        unit: Unit,
        records: Sequence[EscalationRecord],
        state: str,
        now: float,
        acting: Acting = SYSTEM,
        *,
        alert: AlertKey | None = None,
        detail: str | None = None,
    ) -> list[EscalationRecord]:
        """Acknowledge (``acked``) or resolve (``resolved``) ``records``, as ``acting`` did; each
        one stopped gets its row in the audit trail (``alert``: the key of the alert whose
        resolution stopped it; ``detail``: how)."""
        stopped: list[EscalationRecord] = []
        for one in records:
            policy = self._policies.get(one.policy)
            timeout = policy.ack_timeout if policy is not None and state == "acked" else None
            stopped.extend(
                unit.stop_escalations(
                    [one],
                    state,
                    now,
                    _acked_by(acting),
                    acting.path,
                    wake_at=None if timeout is None else now + timeout,
                )
            )
        if any(r.wake_at is not None for r in stopped):
            unit.signal_work()
        for record in stopped:
            action = ACKNOWLEDGED if state == "acked" else RESOLVED
            written = unit.audit(action, acting, _target(record, alert), now, detail)
            logger.info(
                "escalation %s (%s) %s%s via %s",
                record.id,
                record.key,
                action,
                f" by {written.actor}" if written.actor else "",
                written.path,
            )
        return stopped

    def ack(
        self, given: str, acting: Acting, *, snooze: float | None = None
    ) -> list[EscalationRecord]:
        """Acknowledge the active escalations ``given`` names, as ``acting`` does: by the key
        ``notify()`` reported (the group's), the alert's own key (its text, short form, or 8+
        digits of its digest), or the key of any alert in its group. ``snooze``: pause them
        for that many seconds instead; their next step goes out when the snooze ends (unless
        resolved first)."""
        given = given.strip()
        if not given:
            return []
        with self._state().unit("acknowledging") as unit:
            matched = self._named(unit, given)
            now = self._clock()
            if snooze is not None:
                return self._snooze(unit, matched, now, snooze, acting)
            acked = self.stop(unit, matched, "acked", now, acting)
        # counted under the audit trail's path: cli, api, web (the console)...
        self._metrics.acknowledged(acting.path, count=len(acked))
        return acked

    def _snooze(
        self,
        unit: Unit,
        records: Sequence[EscalationRecord],
        now: float,
        seconds: float,
        acting: Acting,
        *,
        how: str | None = None,
    ) -> list[EscalationRecord]:
        """Snooze ``records`` for ``seconds`` (``how``: how it was asked, for the audit row:
        ``pressed 4 on the call of step 0.0``)."""
        snoozed = []
        for record in records:
            done = unit.snooze(record, now, now + seconds, _acked_by(acting), acting.path)
            if done is None:
                continue
            until = _at(now + seconds).isoformat(timespec="seconds")
            written = unit.audit(
                SNOOZED,
                acting,
                _target(record),
                now,
                f"for {_duration(seconds)}, until {until}: the next step goes out then"
                + (f" ({how})" if how else ""),
            )
            logger.info(
                "escalation %s (%s) snoozed until %s%s via %s",
                record.id,
                record.key,
                until,
                f" by {written.actor}" if written.actor else "",
                written.path,
            )
            snoozed.append(done)
        return snoozed

    def _named(self, unit: Unit, given: str) -> list[EscalationRecord]:
        """The open escalations ``given`` names (see :meth:`ack`), rows locked."""
        matched = []
        for record in unit.open_escalations():
            if AlertKey(record.key).matches(given) or record.alert.key_for().matches(given):
                matched.append(record)
                continue
            group = unit.group(record.receiver, record.group_hash)
            if group is not None and any(
                m.alert.key_for().matches(given) for m in group.members.values()
            ):
                matched.append(record)
        return matched

    def ack_token(
        self,
        token: str,
        by: str | None = None,
        *,
        check_only: bool = False,
    ) -> list[EscalationRecord] | None:
        """Acknowledge through an ack link's token; ``None`` when the token is not genuine
        (the signature is checked before the ledger is asked). ``check_only``: only check.
        The audit trail names ``by``, else the people the link was sent to (read from the
        ledger: the recipients of the steps' deliveries whose text carried it)."""
        parsed = self.links.parse(token)
        if parsed is None:
            return None
        if check_only:
            return []
        ack_id, step = parsed
        with self._state().unit("acknowledging") as unit:
            record = unit.escalation_by_ack_id(ack_id)
            if record is None:
                return []
            steps, sent_to = self._link_sent_to(unit, record, token, step)
            detail = f"the ack link sent in step {', '.join(steps)}" if steps else "the ack link"
            acting = Acting("link", sent_to).by(by)
            acked = self.stop(unit, [record], "acked", self._clock(), acting, detail=detail)
        self._metrics.acknowledged("link", count=len(acked))
        return acked

    def act(
        self,
        escalation_id: str,
        action: str,
        acting: Acting,
        *,
        detail: str | None = None,
        once: str | None = None,
        channel: str = "",
    ) -> bool:
        """Acknowledge (``action="ack"``), escalate (``"escalate"``: the next pending step
        is due now, and the worker sends it) or snooze (``"snooze"``: paused for its policy's
        ``keys.snooze_for``, as :meth:`ack` with ``snooze``) one open escalation, as ``acting``
        does (a key pressed on a call: ``Acting("keypress", "asha")``), with its row in the
        audit trail. ``once``: an idempotency key (the provider's call id and the key): a
        replay changes nothing and answers what the first did, in the transaction that did it.
        ``channel``: the channel whose message was answered (the call's, the WhatsApp
        message's), for the acknowledgements metric. Returns whether it was done (``False``:
        the escalation is not open, or has no step left)."""
        if action not in ("ack", "escalate", "snooze"):
            raise ValueError(f"unknown escalation action {action!r}: ack, escalate or snooze")
        now = self._clock()
        with self._state().unit("acting on an escalation") as unit:
            if once is not None:
                fresh, result = unit.claim_idempotency(once, now)
                if not fresh:
                    return result == "done"
            record = unit.escalation(escalation_id)
            done = False
            if record is not None and action == "ack":
                done = bool(self.stop(unit, [record], "acked", now, acting, detail=detail))
            elif record is not None and action == "snooze":
                policy = self._policies.get(record.policy)
                seconds = (policy.call_keys if policy is not None else DEFAULT_KEYS).snooze_for
                done = bool(self._snooze(unit, [record], now, seconds, acting, how=detail))
            elif record is not None and record.state == "active":
                done = unit.advance(record, now) or bool(unit.due_steps(record.id, now))
                if done:
                    unit.audit(ESCALATED, acting, _target(record), now, detail)
                    logger.info(
                        "escalation %s (%s): the next step goes out now (%s via %s)",
                        record.id,
                        record.key,
                        ESCALATED,
                        acting.path,
                    )
            if once is not None:
                unit.finish_idempotency(once, "done" if done else "not done")
        if action == "ack":
            self._metrics.acknowledged(acting.path, channel, count=int(done))
        return done

    def _link_sent_to(
        self, unit: Unit, record: EscalationRecord, token: str, step: tuple[int, int] | None
    ) -> tuple[list[str], str | None]:
        """The steps whose messages carried the ack link ``token``, and who got them (``"a or
        b"`` when several people did): the people it may have reached first, else everyone it
        was addressed to. A link naming its step (``step``: ``(loop, index)``) was carried by
        that step's messages; an older one by the messages whose text holds it."""
        sent = unit.sent_steps(record.id)
        if step is not None:
            sent = [s for s in sent if (s.loop, s.index) == step]
        steps = {s.notification_id: f"{s.loop}.{s.index}" for s in sent}
        carried = [
            d
            for d in unit.step_deliveries([n for n in steps if n is not None])
            if step is not None or (d[2] is not None and token in d[2])
        ]
        reached = [d for d in carried if d[3] in _MAY_HAVE_REACHED] or carried
        people = list(dict.fromkeys(d[1] for d in reached))
        named = list(dict.fromkeys(steps[d[0]] for d in carried))
        return named, " or ".join(people) if people else None

    def link(self, token: str) -> AckLink | None:
        """What an ack link names (read only; ``None``: not a genuine link, or its escalation
        is not in the ledger)."""
        parsed = self.links.parse(token)
        if parsed is None:
            return None
        ack_id, step = parsed
        state = self._state()
        record = state.escalation_by_ack_id(ack_id)
        if record is None:
            return None
        recipients = () if step is None else state.step_recipients(record.id, *step)
        return AckLink(record, step, tuple(recipients))

    # -- outcomes -----------------------------------------------------------------------------------

    def on_changes(self, changes: Sequence[Change]) -> None:
        """Deliveries recorded (by ``notify()``, a worker or a Celery task): a step whose
        delivery failed escalates at once. Not one that failed for a reason of our own
        (``Change.infrastructure``: the shared rate limiter's store...): the person was never
        tried, so the next step keeps its time."""
        if not self._policies:
            return
        failed = [
            c
            for c in changes
            if c.delivery.state is DeliveryState.FAILED and c.infrastructure is None
        ]
        if failed:
            self._react([(c.delivery.notification_id, None, c) for c in failed])

    def on_status(self, pairs: Sequence[tuple[str, StatusUpdate, Change | None]]) -> None:
        """Status reports (notification id, update, the change it made): a failed step
        escalates at once; an answered call acknowledges when the policy says
        ``ack_on_answer``."""
        if not self._policies:
            return
        self._react(pairs)

    def _react(self, pairs: Sequence[tuple[str, StatusUpdate | None, Change | None]]) -> None:
        now = self._clock()
        state = self._state()
        for notification_id, update, change in pairs:
            found = state.escalation_of(notification_id)
            if found is None:
                continue
            record, step = found
            policy = self._policies.get(record.policy)
            with state.unit("reacting to a step's outcome") as unit:
                current = unit.escalation(record.id)
                if current is None or current.state not in ("active", "done"):
                    continue
                where = f"step {step.loop}.{step.index}"
                answered = update is not None and update.info.get("answered") is True
                # A policy with keys wants a key pressed: answering (voicemail answers too) is
                # not enough.
                on_answer = policy is not None and policy.ack_on_answer and policy.keys is None
                if answered and update is not None and on_answer:
                    called = unit.step_deliveries([notification_id], update.provider_id)
                    acting = Acting("call", called[0][1] if called else None)
                    detail = f"answered the call of {where}"
                    acked = self.stop(unit, [current], "acked", now, acting, detail=detail)
                    channel = change.delivery.channel if change is not None else ""
                    self._metrics.acknowledged("call", channel, len(acked))
                    continue
                failed = change is not None and change.delivery.state is DeliveryState.FAILED
                if failed and change is not None and unit.advance(current, now):
                    logger.warning(
                        "escalation %s (%s): a step's delivery failed, the next step goes out now",
                        record.id,
                        record.key,
                    )
                    delivery = change.delivery
                    unit.audit(
                        ESCALATED,
                        SYSTEM,
                        {**_target(current), "step": f"{step.loop}.{step.index}"},
                        now,
                        f"{where} failed ({delivery.channel} to {delivery.recipient}): the next "
                        "step goes out now",
                    )


#: the states of a delivery that may have put its message in front of its recipient
_MAY_HAVE_REACHED = frozenset({"sending", "sent", "delivered", "unknown"})


def _acked_by(acting: Acting) -> str | None:
    """What an escalation keeps as who acknowledged it (how is kept beside it, as
    ``acked_via``: the acting path, ``link``, ``call``, ``api``...)."""
    return mask_numbers(acting.actor) if acting.actor else None


def _target(record: EscalationRecord, alert: AlertKey | None = None) -> dict[str, str | None]:
    """An escalation as the audit trail's target: the key a report shows (the group's), the
    alert's own key when another (a resolution), the receiver, the escalation and its policy."""
    return {
        "key": record.key,
        "alert": alert.text if alert is not None and alert.text != record.key else None,
        "receiver": record.receiver,
        "escalation": record.id,
        "policy": record.policy,
    }
