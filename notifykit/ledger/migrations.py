"""The ledger's schema, as numbered migrations applied in order when a ledger is opened.

Written in the SQL that SQLite and PostgreSQL share, except for the few column types named in
braces (``{autoid}``): :func:`render` replaces them with each dialect's spelling from
:data:`TYPES`, so SQLite gets exactly the DDL it always had. A released migration is never
edited: a change is a new, higher-numbered one.
"""

from __future__ import annotations

__all__ = ["MIGRATIONS", "TYPES", "render"]

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

#: (version, SQL script) pairs; statements are separated by semicolons
MIGRATIONS: tuple[tuple[int, str], ...] = ((1, _V1),)

#: the dialect-specific column types the scripts name in braces, per dialect
TYPES: dict[str, dict[str, str]] = {
    # INTEGER PRIMARY KEY is SQLite's rowid alias: it numbers rows by itself.
    "sqlite": {"autoid": "INTEGER PRIMARY KEY"},
    "postgresql": {"autoid": "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"},
}


def render(script: str, dialect: str) -> str:
    """``script`` with its ``{name}`` column types spelled for ``dialect``."""
    for name, spelling in TYPES[dialect].items():
        script = script.replace("{" + name + "}", spelling)
    return script
