"""The real services some tests use: PostgreSQL, Redis and RabbitMQ on 127.0.0.1.

A test that needs one asks for it here. When the service is not reachable the test is *skipped*
with the reason (a developer's machine without PostgreSQL still passes the suite), except when
``NOTIFYKIT_REQUIRE_SERVICES=1`` (``.ci/run`` sets it): then it *fails*, so CI never passes by
skipping. Addresses come from ``NOTIFYKIT_TEST_POSTGRES``, ``NOTIFYKIT_TEST_REDIS`` and
``NOTIFYKIT_TEST_AMQP``, defaulting to the local services.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn
from urllib.parse import quote, urlsplit

import pytest

__all__ = [
    "AMQP_URL",
    "POSTGRES_URL",
    "REDIS_URL",
    "postgres_schema",
    "require_postgres",
    "require_rabbitmq",
    "require_redis",
    "required",
    "unavailable",
]

POSTGRES_URL = os.environ.get(
    "NOTIFYKIT_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("NOTIFYKIT_TEST_REDIS", "redis://127.0.0.1:6379/0")
AMQP_URL = os.environ.get("NOTIFYKIT_TEST_AMQP", "amqp://guest:guest@127.0.0.1:5672//")

_checked: dict[str, str | None] = {}


def required() -> bool:
    """Whether a missing service fails the test instead of skipping it."""
    return os.environ.get("NOTIFYKIT_REQUIRE_SERVICES", "") == "1"


def unavailable(service: str, reason: str, variable: str) -> NoReturn:
    """Skip (or, with ``NOTIFYKIT_REQUIRE_SERVICES=1``, fail) a test whose service is missing."""
    if required():
        pytest.fail(
            f"{service} is required (NOTIFYKIT_REQUIRE_SERVICES=1) but {reason}; start it, or "
            f"point {variable} at one",
            pytrace=False,
        )
    pytest.skip(f"{service} is not reachable ({reason}); start it or set {variable}")


def _tcp(url: str, default_port: int) -> str | None:
    """``None`` when something accepts TCP connections at the URL's host and port, else why."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or default_port
    try:
        with socket.create_connection((host, port), timeout=2.0):
            return None
    except OSError as err:
        return f"{host}:{port}: {err.strerror or err}"


def require_postgres() -> str:
    """The PostgreSQL URL, after checking that the driver is installed and the server answers."""
    if "postgres" not in _checked:
        try:
            import psycopg
        except ImportError:
            _checked["postgres"] = "psycopg is not installed: pip install -e '.[test]'"
        else:
            try:
                with psycopg.connect(POSTGRES_URL, connect_timeout=3) as conn:
                    conn.execute("SELECT 1")
                _checked["postgres"] = None
            except psycopg.Error as err:
                _checked["postgres"] = str(err).strip().splitlines()[0]
    reason = _checked["postgres"]
    if reason is not None:
        unavailable("PostgreSQL", reason, "NOTIFYKIT_TEST_POSTGRES")
    return POSTGRES_URL


@contextmanager
def postgres_schema() -> Iterator[str]:
    """A new, empty schema for one test; yields a ``store:`` URL whose sessions use it (via
    libpq's ``options=-csearch_path=...``), and drops it afterwards."""
    import psycopg

    base = require_postgres()
    schema = f"nk_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    joiner = "&" if "?" in base else "?"
    try:
        yield f"{base}{joiner}options={quote(f'-csearch_path={schema}')}"
    finally:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def require_redis() -> str:
    """The Redis URL, once something listens there."""
    if "redis" not in _checked:
        _checked["redis"] = _tcp(REDIS_URL, 6379)
    reason = _checked["redis"]
    if reason is not None:
        unavailable("Redis", reason, "NOTIFYKIT_TEST_REDIS")
    return REDIS_URL


def require_rabbitmq() -> str:
    """The RabbitMQ (AMQP) URL, once something listens there."""
    if "amqp" not in _checked:
        _checked["amqp"] = _tcp(AMQP_URL, 5672)
    reason = _checked["amqp"]
    if reason is not None:
        unavailable("RabbitMQ", reason, "NOTIFYKIT_TEST_AMQP")
    return AMQP_URL
