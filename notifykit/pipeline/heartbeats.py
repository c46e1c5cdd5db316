"""Heartbeats (dead-man's switches): a job configured under ``heartbeats:`` calls
``<server.public_url>/heartbeat/<name>/<token>`` at least every ``every``; one that has not
beaten within ``every + grace`` (counted from its last beat, or from when the ledger first saw
it configured) raises the alert ``heartbeat.missed`` through the pipeline, labelled
``heartbeat: <name>`` plus its ``labels``, routed like any other alert (so it reaches
escalation); the next beat resolves it.

And notifykit watching itself (:class:`WorkerWatch`): when no worker has been seen for two
leases, ``notifykit serve`` raises ``notifykit.worker.down`` the same way, and resolves it when a
worker is seen again.

Each change is raised exactly once however many workers tick (or ``serve`` processes watch) at
once: the alert is routed with an idempotency claim made from the heartbeat's name and the time
it counted from, in the transaction that routes it, and the stored state then moves by
compare-and-set (:meth:`~notifykit.ledger.heartbeats.HeartbeatStore.mark`). A process that dies
between the two leaves the state for the next tick, whose claim finds the alert routed already.
This module decides; :mod:`notifykit.ledger.heartbeats` stores.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from notifykit.ledger.heartbeats import MISSED, OK, WORKERS, HeartbeatRow
from notifykit.pipeline.events import HEARTBEAT_MISSED, OWN_EVENTS, WORKER_DOWN
from notifykit.routing.alert import Alert

if TYPE_CHECKING:
    from notifykit.config.heartbeats import HeartbeatSettings
    from notifykit.ledger.base import Ledger
    from notifykit.pipeline.ingest import Ingest, Routed
    from notifykit.pipeline.store import Handoff, Stored

__all__ = [
    "HEARTBEAT_MISSED",
    "OWN_EVENTS",
    "WORKER_DOWN",
    "HeartbeatStatus",
    "Heartbeats",
    "WatchResult",
    "WorkerWatch",
]

logger = logging.getLogger("notifykit.heartbeats")

#: a missed heartbeat stays firing this long without a beat (routes repeat it meanwhile); the
#: config's ``resolve_timeout`` (5m) would let it lapse while the job is still dead
FIRING_FOR = 30 * 86400.0
#: the ledger's secret the default tokens are derived from
_SECRET = "heartbeat"


def _iso(at: float | None) -> str | None:
    if at is None:
        return None
    return datetime.fromtimestamp(at, timezone.utc).isoformat(timespec="seconds")


def _summary(routed: Routed) -> str:
    """What an idempotency claim keeps: the notifications stored for it."""
    return json.dumps(
        {"key": routed.key, "notifications": [s.submission.id for s in routed.stored]}
    )


@dataclass(frozen=True)
class HeartbeatStatus:
    """One heartbeat as ``notifykit heartbeats`` shows it.

    ``state``: ``never`` (not beaten yet, not overdue), ``ok``, ``late`` (past ``every``, within
    ``grace``) or ``missed`` (past both: its alert is raised, or is about to be at the next tick).
    """

    name: str
    state: str
    every: float
    grace: float
    last_beat: float | None
    #: when the next beat is due (``every`` after the last one, or after first seen)
    due: float
    #: when it counts as missed
    deadline: float
    beats: int
    first_seen: float | None
    labels: Mapping[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "state": self.state,
            "every": self.every,
            "grace": self.grace,
            "last_beat": _iso(self.last_beat),
            "due": _iso(self.due),
            "deadline": _iso(self.deadline),
            "beats": self.beats,
            "first_seen": _iso(self.first_seen),
            "labels": dict(self.labels),
        }


class Heartbeats:
    """The configured heartbeats: their tokens, their beats and their checks (see the module
    docstring)."""

    def __init__(
        self,
        *,
        specs: Mapping[str, HeartbeatSettings],
        ingest: Ingest,
        ledger: Callable[[], Ledger],
        secret: Callable[[], str],
        clock: Callable[[], float],
    ) -> None:
        self.specs = dict(specs)
        self._ingest = ingest
        self._ledger = ledger
        self._read_secret = secret
        self._secret: bytes | None = None
        self._clock = clock
        self._noted = False

    @property
    def configured(self) -> bool:
        return bool(self.specs)

    # -- tokens -------------------------------------------------------------------------------

    def token(self, name: str) -> str:
        """``name``'s token: its ``token:`` setting, or one derived from a secret kept in the
        ledger (an HMAC of the name: the same in every process, never stored)."""
        spec = self.specs[name]
        if spec.token:
            return spec.token
        if self._secret is None:
            self._secret = self._read_secret().encode()
        digest = hmac.new(self._secret, f"heartbeat:{name}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest[:18]).decode()

    def accepts(self, name: str, token: str) -> bool:
        """Whether ``token`` is ``name``'s token (compared in constant time; an unknown name is
        refused after the same comparison)."""
        known = name in self.specs
        expected = self.token(name) if known else "-" * 24
        return hmac.compare_digest(token.encode(), expected.encode()) and known

    # -- beats and checks ---------------------------------------------------------------------

    def beat(self, name: str, handoff: Handoff) -> list[Routed]:
        """Record a beat of ``name`` now; when its missed alert was raised, resolve it (what
        that stores goes as ``handoff`` says)."""
        now = self._clock()
        store = self._ledger().heartbeats
        store.beat(name, now)
        row = store.rows([name]).get(name)
        if row is None:  # pragma: no cover - beat() just wrote it
            return []
        routed = self._settle(self.specs[name], row, now, handoff)
        return [routed] if routed is not None else []

    def check(self, now: float, handoff: Handoff) -> list[Stored]:
        """Raise the missed alert of every heartbeat overdue now, and resolve those beaten
        since (the worker's due tick runs it)."""
        if not self.specs:
            return []
        store = self._ledger().heartbeats
        rows = store.rows(self.specs)
        missing = [n for n in self.specs if n not in rows]
        if missing:
            store.configured(missing, now)
            rows = store.rows(self.specs)
        stored: list[Stored] = []
        for name, spec in self.specs.items():
            row = rows.get(name)
            if row is None:
                continue
            try:
                routed = self._settle(spec, row, now, handoff)
            except Exception as err:
                from notifykit.errors import LedgerUnavailable

                if isinstance(err, LedgerUnavailable):
                    raise  # the tick waits for the ledger
                # One heartbeat's trouble (a template failing for its labels) stops no other;
                # it is tried again at the next tick.
                logger.error(
                    "heartbeat %s: routing its alert failed (%s: %s); tried again at the next tick",
                    name,
                    type(err).__name__,
                    err,
                )
                continue
            if routed is not None:
                stored.extend(routed.stored)
        return stored

    def _settle(
        self, spec: HeartbeatSettings, row: HeartbeatRow, now: float, handoff: Handoff
    ) -> Routed | None:
        name = row.name
        if row.state == OK and row.since + spec.every + spec.grace <= now:
            routed = self._ingest(
                self._alert(name, spec, row, resolved=False),
                handoff,
                claim=f"heartbeat:{name}:missed:{row.since!r}",
                summary=_summary,
            )
            if self._ledger().heartbeats.mark(
                name, was=OK, state=MISSED, missed_since=row.since, now=now
            ):
                logger.error(
                    "heartbeat %s missed: no beat since %s (every %gs, grace %gs): alert %s raised",
                    name,
                    _iso(row.since),
                    spec.every,
                    spec.grace,
                    HEARTBEAT_MISSED,
                )
            return None if routed.duplicate else routed
        since = row.missed_since
        if row.state == MISSED and since is not None and (row.last_beat or 0.0) > since:
            routed = self._ingest(
                self._alert(name, spec, row, resolved=True),
                handoff,
                claim=f"heartbeat:{name}:back:{since!r}",
                summary=_summary,
            )
            if self._ledger().heartbeats.mark(
                name, was=MISSED, was_since=since, state=OK, missed_since=None, now=now
            ):
                logger.warning(
                    "heartbeat %s is back (beat at %s): resolved", name, _iso(row.last_beat)
                )
            return None if routed.duplicate else routed
        return None

    def _alert(
        self, name: str, spec: HeartbeatSettings, row: HeartbeatRow, *, resolved: bool
    ) -> Alert:
        return Alert(
            HEARTBEAT_MISSED,
            spec.severity,
            {**spec.labels, "heartbeat": name},
            {
                "heartbeat": name,
                "every": spec.every,
                "grace": spec.grace,
                "last_beat": _iso(row.last_beat),
                "since": _iso(row.missed_since if resolved else row.since),
            },
            resolved=resolved,
            timeout=FIRING_FOR,
        )

    # -- reading ------------------------------------------------------------------------------

    def statuses(self, now: float | None = None) -> list[HeartbeatStatus]:
        """Every configured heartbeat's state now, by name (not yet seen by a worker's tick:
        counted from now)."""
        now = self._clock() if now is None else now
        rows = self._ledger().heartbeats.rows(self.specs) if self.specs else {}
        found = []
        for name, spec in sorted(self.specs.items()):
            row = rows.get(name)
            last = row.last_beat if row else None
            since = row.since if row else now
            due, deadline = since + spec.every, since + spec.every + spec.grace
            if (row is not None and row.state == MISSED) or now >= deadline:
                state = MISSED
            elif now >= due:
                state = "late"
            elif last is None:
                state = "never"
            else:
                state = OK
            found.append(
                HeartbeatStatus(
                    name=name,
                    state=state,
                    every=spec.every,
                    grace=spec.grace,
                    last_beat=last,
                    due=due,
                    deadline=deadline,
                    beats=row.beats if row else 0,
                    first_seen=row.first_seen if row else None,
                    labels=dict(spec.labels),
                )
            )
        return found


@dataclass(frozen=True)
class WatchResult:
    """What one look at the workers found: ``down`` (none seen within the window),
    ``changed`` (``"down"`` or ``"back"`` when this look raised or resolved the alert), the
    workers seen, when one was last seen, and what was routed."""

    down: bool
    changed: str | None
    workers: int
    last_seen: float | None
    window: float
    routed: list[Routed] = field(default_factory=list)


class WorkerWatch:
    """``notifykit serve`` watching the workers: ``notifykit.worker.down`` when none has been
    seen for ``window`` seconds (two leases), counted from the last one seen or, when none ever
    was, from when the ledger first saw a server watch; resolved when one is seen again."""

    def __init__(
        self,
        *,
        ingest: Ingest,
        ledger: Callable[[], Ledger],
        clock: Callable[[], float],
        window: float,
        severity: str = "critical",
    ) -> None:
        self._ingest = ingest
        self._ledger = ledger
        self._clock = clock
        self.window = window
        self.severity = severity

    def check(self, handoff: Handoff) -> WatchResult:
        now = self._clock()
        store = self._ledger().heartbeats
        row = store.rows([WORKERS]).get(WORKERS)
        if row is None:
            store.configured([WORKERS], now)
            row = store.rows([WORKERS])[WORKERS]
        live, last = store.workers_seen(now - self.window)
        since = max(last, row.first_seen) if last is not None else row.first_seen
        if live:
            if row.state == MISSED and row.missed_since is not None:
                routed = self._route(row.missed_since, last, resolved=True, handoff=handoff)
                changed = store.mark(
                    WORKERS, was=MISSED, was_since=row.missed_since, state=OK, missed_since=None,
                    now=now,
                )  # fmt: skip
                return WatchResult(
                    False, "back" if changed else None, live, last, self.window, routed
                )
            return WatchResult(False, None, live, last, self.window)
        if row.state == OK and since + self.window <= now:
            routed = self._route(since, last, resolved=False, handoff=handoff)
            changed = store.mark(WORKERS, was=OK, state=MISSED, missed_since=since, now=now)
            return WatchResult(True, "down" if changed else None, 0, last, self.window, routed)
        return WatchResult(since + self.window <= now or row.state == MISSED, None, 0, last,
                           self.window)  # fmt: skip

    def _route(
        self, since: float, last: float | None, *, resolved: bool, handoff: Handoff
    ) -> list[Routed]:
        alert = Alert(
            WORKER_DOWN,
            self.severity,
            {"component": "worker"},
            {"last_seen": _iso(last), "since": _iso(since), "window": self.window},
            resolved=resolved,
            timeout=FIRING_FOR,
        )
        claim = f"{WORKERS}:{'back' if resolved else 'down'}:{since!r}"
        routed = self._ingest(alert, handoff, claim=claim, summary=_summary)
        return [] if routed.duplicate else [routed]
