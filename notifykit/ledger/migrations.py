"""The ledger's schema, as numbered migrations applied in order when a ledger is opened.

Written in the SQL that SQLite and PostgreSQL share, except for the few column types named in
braces (``{autoid}``): :func:`render` replaces them with each dialect's spelling from
:data:`TYPES`, so SQLite gets exactly the DDL it always had; a migration whose statements must
differ (SQLite rebuilds a table to change it) gives one script per dialect. A released migration
is never edited: a change is a new, higher-numbered one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeAlias

__all__ = ["MIGRATIONS", "TYPES", "Script", "render"]

#: a migration's SQL: one script for every dialect, or one per dialect (by its name)
Script: TypeAlias = str | Mapping[str, str]

_V1 = """
CREATE TABLE notifications (
    id TEXT PRIMARY KEY,
    key TEXT UNIQUE,
    event TEXT NOT NULL,
    severity TEXT NOT NULL,
    created DOUBLE PRECISION NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX notifications_created ON notifications (created);
CREATE TABLE deliveries (
    id TEXT PRIMARY KEY,
    notification_id TEXT NOT NULL REFERENCES notifications (id),
    seq INTEGER NOT NULL,
    channel TEXT NOT NULL,
    channel_type TEXT NOT NULL,
    recipient TEXT NOT NULL,
    recipient_name TEXT,
    address TEXT,
    address_kind TEXT NOT NULL,
    text TEXT,
    template TEXT,
    options TEXT NOT NULL,
    info TEXT NOT NULL,
    batch TEXT NOT NULL,
    callback_token TEXT NOT NULL,
    state TEXT NOT NULL,
    due DOUBLE PRECISION NOT NULL,
    first_due DOUBLE PRECISION NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    lease_owner TEXT,
    lease_expires DOUBLE PRECISION,
    provider_id TEXT,
    provider_status TEXT,
    provider_detail TEXT,
    error TEXT,
    skip_reason TEXT,
    checked DOUBLE PRECISION,
    updated DOUBLE PRECISION NOT NULL
);
CREATE INDEX deliveries_due ON deliveries (state, due);
CREATE INDEX deliveries_notification ON deliveries (notification_id, seq);
CREATE INDEX deliveries_token ON deliveries (callback_token);
CREATE INDEX deliveries_provider ON deliveries (provider_id);
CREATE TABLE attempts (
    delivery_id TEXT NOT NULL REFERENCES deliveries (id),
    number INTEGER NOT NULL,
    worker TEXT,
    started DOUBLE PRECISION NOT NULL,
    finished DOUBLE PRECISION,
    outcome TEXT NOT NULL,
    provider_id TEXT,
    error TEXT,
    PRIMARY KEY (delivery_id, number)
);
CREATE TABLE status_events (
    id {autoid},
    delivery_id TEXT REFERENCES deliveries (id),
    callback_token TEXT,
    provider_id TEXT NOT NULL,
    source TEXT NOT NULL,
    provider_status TEXT,
    state TEXT,
    detail TEXT,
    info TEXT,
    received DOUBLE PRECISION NOT NULL,
    applied INTEGER NOT NULL
);
CREATE INDEX status_events_delivery ON status_events (delivery_id);
CREATE INDEX status_events_provider ON status_events (provider_id);
CREATE TABLE workers (
    name TEXT PRIMARY KEY,
    host TEXT,
    pid INTEGER,
    started DOUBLE PRECISION NOT NULL,
    heartbeat DOUBLE PRECISION NOT NULL
)
"""

#: Version 2: alert routing state (issue 8), so dedup, grouping and escalation survive restarts.
#: ``alerts``: every alert seen, by the digest of its full key (inhibition, ``resolve KEY``);
#: ``notification_log``: per (receiver, group key) what was last sent and when a waiting group is
#: due (Alertmanager's nflog); ``group_members``: the alerts of a group; ``escalations`` and
#: ``escalation_steps``: each step a row, made ``sent`` in the transaction that stores its
#: notification (so a restart loses none and repeats none); ``idempotency``: webhook retries;
#: ``routing_secrets``: the HMAC key of ack links.
_V2 = """
CREATE TABLE alerts (
    key_hash TEXT PRIMARY KEY,
    key_text TEXT NOT NULL,
    event TEXT NOT NULL,
    severity TEXT NOT NULL,
    labels TEXT NOT NULL,
    body TEXT NOT NULL,
    first_seen DOUBLE PRECISION NOT NULL,
    last_seen DOUBLE PRECISION NOT NULL,
    resolved_at DOUBLE PRECISION
);
CREATE INDEX alerts_open ON alerts (resolved_at, last_seen);
CREATE TABLE notification_log (
    receiver TEXT NOT NULL,
    group_hash TEXT NOT NULL,
    group_text TEXT NOT NULL,
    first_seen DOUBLE PRECISION NOT NULL,
    last_sent DOUBLE PRECISION,
    digest TEXT,
    flush_due DOUBLE PRECISION,
    settings TEXT NOT NULL,
    last_notification TEXT,
    PRIMARY KEY (receiver, group_hash)
);
CREATE INDEX notification_log_flush ON notification_log (flush_due);
CREATE TABLE group_members (
    receiver TEXT NOT NULL,
    group_hash TEXT NOT NULL,
    alert_hash TEXT NOT NULL,
    body TEXT NOT NULL,
    resolved INTEGER NOT NULL,
    joined_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (receiver, group_hash, alert_hash)
);
CREATE TABLE escalations (
    id TEXT PRIMARY KEY,
    receiver TEXT NOT NULL,
    policy TEXT NOT NULL,
    group_hash TEXT NOT NULL,
    group_text TEXT NOT NULL,
    body TEXT NOT NULL,
    ack_id TEXT NOT NULL UNIQUE,
    state TEXT NOT NULL,
    started_at DOUBLE PRECISION NOT NULL,
    acked_at DOUBLE PRECISION,
    acked_by TEXT,
    resolved_at DOUBLE PRECISION
);
CREATE INDEX escalations_group ON escalations (receiver, group_hash, state);
CREATE TABLE escalation_steps (
    escalation_id TEXT NOT NULL REFERENCES escalations (id),
    loop_no INTEGER NOT NULL,
    step_no INTEGER NOT NULL,
    due_at DOUBLE PRECISION NOT NULL,
    state TEXT NOT NULL,
    notification_id TEXT,
    PRIMARY KEY (escalation_id, loop_no, step_no)
);
CREATE INDEX escalation_steps_due ON escalation_steps (state, due_at);
CREATE INDEX escalation_steps_notification ON escalation_steps (notification_id);
CREATE TABLE idempotency (
    key TEXT PRIMARY KEY,
    received_at DOUBLE PRECISION NOT NULL,
    result TEXT
);
CREATE TABLE routing_secrets (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
)
"""

#: Version 3: Alertmanager's alert lifecycle (issue 15). A group keeps the route that made it
#: (``route``: settings and time intervals), the notification log's sets of alerts last told
#: firing and resolved (``firing``, ``resolved``: Alertmanager's nflog entry) and how many flushes
#: in a row failed (``failures``: the backoff of a group whose flush raised); each member when it
#: started, was last raised and was resolved; each escalation step how many times planning it
#: failed.
_V3 = """
ALTER TABLE notification_log ADD COLUMN route TEXT;
ALTER TABLE notification_log ADD COLUMN firing TEXT;
ALTER TABLE notification_log ADD COLUMN resolved TEXT;
ALTER TABLE notification_log ADD COLUMN failures INTEGER NOT NULL DEFAULT 0;
ALTER TABLE group_members ADD COLUMN starts_at DOUBLE PRECISION;
ALTER TABLE group_members ADD COLUMN last_raised DOUBLE PRECISION;
ALTER TABLE group_members ADD COLUMN resolved_at DOUBLE PRECISION;
CREATE INDEX group_members_alert ON group_members (alert_hash);
ALTER TABLE escalation_steps ADD COLUMN failures INTEGER NOT NULL DEFAULT 0
"""

#: Version 4: the audit trail (issue 19): who acknowledged, resolved or escalated what, when and
#: through which path (``notifykit audit``), a row written in the transaction of the action
#: itself. ``action``, ``path`` and ``actor`` are free text, and ``target`` a JSON object (the
#: alert key, the escalation, its policy...), so actions to come need no new schema; the alert
#: key and the escalation have columns of their own, to find the trail of one alert.
_V4 = """
CREATE TABLE audit (
    id {autoid},
    at DOUBLE PRECISION NOT NULL,
    action TEXT NOT NULL,
    path TEXT NOT NULL,
    actor TEXT,
    key_text TEXT,
    escalation_id TEXT,
    target TEXT NOT NULL,
    detail TEXT
);
CREATE INDEX audit_at ON audit (at);
CREATE INDEX audit_escalation ON audit (escalation_id)
"""

#: Version 5: running as a service (issue 19). ``probes``: what ``/readyz`` writes and reads back
#: to know the ledger takes writes (one row per name); ``escalations.acked_via``: how an
#: escalation was acknowledged: the path of the audit trail (``link``, ``call``, ``api``, ``cli``...).
_V5 = """
CREATE TABLE probes (
    name TEXT PRIMARY KEY,
    at DOUBLE PRECISION NOT NULL
);
ALTER TABLE escalations ADD COLUMN acked_via TEXT
"""

#: Version 6: silences and acknowledgement timeouts (issue 17). ``silences``: Alertmanager's
#: silences (``matchers``: a JSON list of matcher strings, ANDed), muting from ``starts_at`` until
#: ``ends_at`` (expiring one early sets its end; ``expired_by`` says who did).
#: ``escalations.wake_at``: when an acknowledged escalation re-opens (its policy's
#: ``ack_timeout``) or a snoozed one resumes; ``NULL``: never.
_V6 = """
CREATE TABLE silences (
    id TEXT PRIMARY KEY,
    matchers TEXT NOT NULL,
    starts_at DOUBLE PRECISION NOT NULL,
    ends_at DOUBLE PRECISION NOT NULL,
    comment TEXT NOT NULL,
    created_by TEXT,
    created_at DOUBLE PRECISION NOT NULL,
    expired_by TEXT
);
CREATE INDEX silences_ends ON silences (ends_at);
ALTER TABLE escalations ADD COLUMN wake_at DOUBLE PRECISION;
CREATE INDEX escalations_wake ON escalations (state, wake_at)
"""

#: Version 7: paging limits (issue 17). The pages of one recipient in a window are counted with
#: this index (``notifykit.pipeline.limits``); a bundle of held pages is an ordinary delivery.
_V7 = """
CREATE INDEX deliveries_recipient ON deliveries (recipient, first_due)
"""

#: Version 8: heartbeats (issue 19), the dead-man's switches of ``heartbeats:`` and ``serve``'s
#: watch of the workers (:mod:`notifykit.ledger.heartbeats`): when each was first configured,
#: its last beat, and whether its missed alert is raised (``state``, changed by compare-and-set).
_V8 = """
CREATE TABLE heartbeats (
    name TEXT PRIMARY KEY,
    first_seen DOUBLE PRECISION NOT NULL,
    last_beat DOUBLE PRECISION,
    beats INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL DEFAULT 'ok',
    missed_since DOUBLE PRECISION,
    changed DOUBLE PRECISION
)
"""

#: Version 9: failover (issue 18, docs/failover.md). A delivery planned as another's fallback
#: names it in ``fallback_of``; it waits ``skipped`` (``standby: ...``) until that one fails on
#: the provider's side, when the transaction recording the failure makes it due. Both indexes
#: are partial (issue 20): a delivery with no fallback or no provider id yet (every one, when
#: it is stored) writes no entry to them. Measured on a file ledger, one SMS per notify(): 18.0
#: WAL frames a notify() before this version, 19.0 with a full fallback_of index, 16.7 with
#: both partial.
_V9 = """
ALTER TABLE deliveries ADD COLUMN fallback_of TEXT;
CREATE INDEX deliveries_fallback_of ON deliveries (fallback_of) WHERE fallback_of IS NOT NULL;
DROP INDEX deliveries_provider;
CREATE INDEX deliveries_provider ON deliveries (provider_id) WHERE provider_id IS NOT NULL
"""

#: Version 10: on-call overrides made at run time (``notifykit override add``,
#: :mod:`notifykit.ledger.overrides`): who covers a schedule over [starts_at, ends_at).
_V10 = """
CREATE TABLE oncall_overrides (
    id TEXT PRIMARY KEY,
    schedule TEXT NOT NULL,
    who TEXT NOT NULL,
    starts_at DOUBLE PRECISION NOT NULL,
    ends_at DOUBLE PRECISION NOT NULL,
    comment TEXT NOT NULL,
    created_by TEXT,
    created_at DOUBLE PRECISION NOT NULL,
    cancelled_by TEXT
);
CREATE INDEX oncall_overrides_schedule ON oncall_overrides (schedule, ends_at)
"""

#: Version 11: the provider accounts' circuit breakers (issue 18, docs/circuit-breaker.md,
#: :mod:`notifykit.ledger.circuits`): one row per account key, its state (``closed``, ``open``,
#: ``half_open``) changed by compare-and-set, so every process sharing the ledger agrees.
_V11 = """
CREATE TABLE circuits (
    key TEXT PRIMARY KEY,
    state TEXT NOT NULL DEFAULT 'closed',
    failures INTEGER NOT NULL DEFAULT 0,
    window_start DOUBLE PRECISION,
    opened_at DOUBLE PRECISION,
    reopen_at DOUBLE PRECISION,
    probe_owner TEXT,
    probe_until DOUBLE PRECISION,
    last_error TEXT,
    updated DOUBLE PRECISION NOT NULL
)
"""

#: Version 12: fewer pages written per ``notify()`` (issue 20), in SQLite. A notification without
#: an idempotency key is no longer entered in a unique index of keys (NULLs were: an index write
#: per notification for nothing), and ``notifications`` and ``attempts`` become ``WITHOUT ROWID``
#: tables: each is then its primary key's b-tree, with no separate key index beside the rows to
#: write (their keys are time-ordered ids, so rows are appended). ``deliveries`` stays a rowid
#: table: its rows are too large for a clustered b-tree (measured worse, docs/performance.md).
#: SQLite cannot change a table in place, so it is rebuilt (the ledger migrates with foreign
#: keys off and checks them before it commits). WAL frames per ``notify()`` of one SMS: 16.7
#: before, 14.7 after. PostgreSQL keeps its unique constraint: no gain was measured for the
#: partial index there (its commits are not bound by the pages they write as SQLite's fsync is).
_V12_SQLITE = """
CREATE TABLE notifications_v12 (
    id TEXT PRIMARY KEY,
    key TEXT,
    event TEXT NOT NULL,
    severity TEXT NOT NULL,
    created DOUBLE PRECISION NOT NULL,
    body TEXT NOT NULL
) WITHOUT ROWID;
INSERT INTO notifications_v12 (id, key, event, severity, created, body)
    SELECT id, key, event, severity, created, body FROM notifications;
DROP TABLE notifications;
ALTER TABLE notifications_v12 RENAME TO notifications;
CREATE UNIQUE INDEX notifications_key ON notifications (key) WHERE key IS NOT NULL;
CREATE INDEX notifications_created ON notifications (created);
CREATE TABLE attempts_v12 (
    delivery_id TEXT NOT NULL REFERENCES deliveries (id),
    number INTEGER NOT NULL,
    worker TEXT,
    started DOUBLE PRECISION NOT NULL,
    finished DOUBLE PRECISION,
    outcome TEXT NOT NULL,
    provider_id TEXT,
    error TEXT,
    PRIMARY KEY (delivery_id, number)
) WITHOUT ROWID;
INSERT INTO attempts_v12 (delivery_id, number, worker, started, finished, outcome, provider_id,
    error)
    SELECT delivery_id, number, worker, started, finished, outcome, provider_id, error
    FROM attempts;
DROP TABLE attempts;
ALTER TABLE attempts_v12 RENAME TO attempts
"""
_V12 = {"sqlite": _V12_SQLITE, "postgresql": ""}

#: (version, SQL script) pairs; statements are separated by semicolons
MIGRATIONS: tuple[tuple[int, Script], ...] = (
    (1, _V1),
    (2, _V2),
    (3, _V3),
    (4, _V4),
    (5, _V5),
    (6, _V6),
    (7, _V7),
    (8, _V8),
    (9, _V9),
    (10, _V10),
    (11, _V11),
    (12, _V12),
)

#: the dialect-specific column types the scripts name in braces, per dialect
TYPES: dict[str, dict[str, str]] = {
    # INTEGER PRIMARY KEY is SQLite's rowid alias: it numbers rows by itself.
    "sqlite": {"autoid": "INTEGER PRIMARY KEY"},
    "postgresql": {"autoid": "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"},
}


def render(script: Script, dialect: str) -> str:
    """``script`` (or, where the dialects need different statements, its ``dialect``'s own) with
    its ``{name}`` column types spelled for ``dialect``."""
    if not isinstance(script, str):
        script = script[dialect]
    for name, spelling in TYPES[dialect].items():
        script = script.replace("{" + name + "}", spelling)
    return script
