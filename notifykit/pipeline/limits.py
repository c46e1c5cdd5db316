"""Paging limits (``paging_limits:``, docs/routing.md "Paging limits"): how many pages one person
gets through one kind of channel (``call``, ``sms``...) in a sliding window.

The pages are counted from the ledger, in the unit of work that stores the new ones: the
deliveries to that recipient through the channels of that kind whose first due time falls in the
window (skipped and cancelled ones do not count; a bundle counts from when it is due).

Over the limit:

- an ordinary page is **held**: its delivery is stored skipped (``paging limit 6/1h: bundled
  into <id>``) and listed in one *bundle* delivery to the same person through the same channel (one bundle per
  person and kind),
  due when the window frees ("3 more alerts: ..."). Further held pages join that bundle while it
  is pending, so each held page is either sent or listed in a bundle that is sent;
- in an escalation step, a call (a channel of kind ``call``, or ``flow``: an Exotel flow rings
  the phone too) to a person over that kind's limit is not made (skipped, ``paging limit``); a
  step left with nobody to page counts as not reached and the next step fires at once
  (:mod:`notifykit.pipeline.escalate`).
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from notifykit.ledger.audit import SYSTEM
from notifykit.model import Notification
from notifykit.plan.planner import DeliveryJob, Plan, new_id

if TYPE_CHECKING:
    from notifykit.config.paging import PageLimit, PagingLimits
    from notifykit.ledger.state import Unit

__all__ = ["BUNDLE_EVENT", "CALL_KINDS", "HELD", "PagingGuard", "bundle_text"]

logger = logging.getLogger("notifykit.routing")

#: the event of a bundle's notification
BUNDLE_EVENT = "paging-limit-bundle"
#: the audit action recorded for each held page and each call not made
HELD = "paging-limited"
#: how many held pages a bundle's text lists by name (the rest are counted)
LISTED = 10
#: the channel kinds that ring a phone: in an escalation step, a page through one of them to a
#: person over its kind's limit is not made rather than held (the step may count as not reached)
CALL_KINDS = frozenset({"call", "flow"})


def bundle_text(items: Sequence[Mapping[str, Any]]) -> str:
    """The bundle's message: ``3 more alerts: disk-full db1, ...``."""
    names = [" ".join(p for p in (str(i["event"]), str(i.get("key") or "")) if p) for i in items]
    shown = ", ".join(names[:LISTED])
    more = f" and {len(names) - LISTED} more" if len(names) > LISTED else ""
    noun = "alert" if len(items) == 1 else "alerts"
    return f"{len(items)} more {noun} (paging limit): {shown}{more}"


class PagingGuard:
    """Applies the paging limits to a plan inside a unit of work (module docstring).
    ``kinds`` maps each channel name to its channel type's kind."""

    def __init__(self, limits: PagingLimits, kinds: Mapping[str, str]) -> None:
        self._limits = limits
        self._kinds = dict(kinds)
        self._by_kind: dict[str, list[str]] = {}
        for channel, kind in sorted(self._kinds.items()):
            self._by_kind.setdefault(kind, []).append(channel)

    def __bool__(self) -> bool:
        return bool(self._limits)

    def _limit(self, job: DeliveryJob) -> tuple[str, PageLimit] | None:
        kind = self._kinds.get(job.channel)
        if kind is None or job.skip_reason is not None:
            return None
        limit = self._limits.limit(job.recipient_name or job.recipient, kind)
        return None if limit is None else (kind, limit)

    def _pages(
        self, unit: Unit, job: DeliveryJob, kind: str, limit: PageLimit, now: float
    ) -> list[float]:
        return unit.pages(job.recipient, self._by_kind[kind], now - limit.window, now)

    def applies(self, plan: Plan) -> bool:
        return bool(self._limits) and any(self._limit(j) for j in plan.jobs)

    # -- escalation steps ---------------------------------------------------------------------------

    def calls_over(self, unit: Unit, plan: Plan, now: float) -> tuple[Plan, list[str]]:
        """``plan`` (an escalation step's) with its calls (:data:`CALL_KINDS`) to people over
        their limit of that kind skipped, and who they were (``alice (call limit 6/1h)``,
        ``alice (flow limit 6/1h)``)."""
        jobs: list[DeliveryJob] = []
        over: list[str] = []
        for job in plan.jobs:
            found = self._limit(job)
            if found is not None and found[0] in CALL_KINDS:
                kind, limit = found
                if len(self._pages(unit, job, kind, limit, now)) >= limit.count:
                    who = job.recipient_name or job.recipient
                    over.append(f"{who} ({kind} limit {limit})")
                    job = dataclasses.replace(
                        job, skip_reason=f"paging limit: over the {kind} limit {limit}"
                    )
            jobs.append(job)
        if not over:
            return plan, []
        return dataclasses.replace(plan, jobs=tuple(jobs)), list(dict.fromkeys(over))

    # -- ordinary pages -----------------------------------------------------------------------------

    def hold(
        self, unit: Unit, plan: Plan, now: float, alert_key: str | None = None
    ) -> tuple[Plan, list[Plan]]:
        """``plan`` with its pages over a limit held (skipped, listed in a bundle), and the new
        bundles to store beside it (a pending bundle is extended in the ledger instead)."""
        if not self.applies(plan):
            return plan, []
        jobs: list[DeliveryJob] = []
        here: dict[tuple[str, str], int] = {}
        # per (recipient, kind): the bundle's id, its job when it is new here (``None``: a
        # pending one in the ledger, extended), and the held pages it lists
        bundles: dict[tuple[str, str], tuple[str, DeliveryJob | None, list[dict[str, Any]]]] = {}
        changed = False
        for job in plan.jobs:
            found = self._limit(job)
            if found is None:
                jobs.append(job)
                continue
            kind, limit = found
            slot = (job.recipient, kind)
            # the pages in the window, oldest first, and those of this plan kept so far (now)
            times = self._pages(unit, job, kind, limit, now) + [now] * here.get(slot, 0)
            if len(times) < limit.count:
                here[slot] = here.get(slot, 0) + 1
                jobs.append(job)
                continue
            bundle = bundles.get(slot)
            if bundle is None:
                pending = unit.pending_bundle(job.recipient, self._by_kind[kind])
                if pending is not None:
                    bundle = (pending[0], None, list(pending[1].get("paging_bundle", [])))
                else:
                    # Due when the window frees: when the oldest of its last ``count`` pages
                    # leaves it.
                    frees = times[-limit.count] + limit.window
                    bundle_id = new_id()
                    bundle = (bundle_id, self._bundle_job(bundle_id, job, frees), [])
                bundles[slot] = bundle
            bundle[2].append(
                {
                    "delivery": job.id,
                    "notification": job.notification_id,
                    "event": plan.notification.event,
                    "key": alert_key or plan.notification.key,
                }
            )
            reason = f"paging limit {limit}: bundled into {bundle[0]}"
            jobs.append(dataclasses.replace(job, skip_reason=reason))
            changed = True
            who = job.recipient_name or job.recipient
            unit.audit(
                HELD,
                SYSTEM,
                {"recipient": who, "delivery": job.id, "bundle": bundle[0]},
                now,
                f"{kind} page to {who} over the paging limit {limit}: bundled into {bundle[0]}",
            )
            logger.info(
                "page %s to %s through %s held by the paging limit %s: bundled into %s",
                job.id,
                who,
                job.channel,
                limit,
                bundle[0],
            )
        if not changed:
            return plan, []
        new: list[Plan] = []
        for bundle_id, fresh, items in bundles.values():
            text = bundle_text(items)
            if fresh is None:
                unit.extend_bundle(bundle_id, text, {"paging_bundle": items}, now)
                continue
            job = dataclasses.replace(fresh, text=text, info={"paging_bundle": items})
            notification = Notification(
                event=BUNDLE_EVENT,
                severity=plan.notification.severity,
                data={"held": [i["delivery"] for i in items]},
                template=None,
                channels=(job.channel,),
                recipients=(job.recipient,),
                id=job.notification_id,
                created=now,
            )
            new.append(Plan(notification, (job,), {job.channel: text}, plan.receiver))
        return dataclasses.replace(plan, jobs=tuple(jobs)), new

    @staticmethod
    def _bundle_job(bundle_id: str, held: DeliveryJob, due: float) -> DeliveryJob:
        return DeliveryJob(
            id=bundle_id,
            notification_id=new_id(),
            seq=0,
            channel=held.channel,
            channel_type=held.channel_type,
            recipient=held.recipient,
            recipient_name=held.recipient_name,
            address=held.address,
            address_kind=held.address_kind,
            text=None,
            template=None,
            options=held.options,
            info={},
            batch=new_id(),
            callback_token=secrets.token_urlsafe(16),  # 128 random bits, as the planner's
            due=due,
        )
