"""Fixtures for the scale-out tests: a PostgreSQL ledger of its own per test (a fresh schema),
clean Redis keys, and processes that are always ended."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.services import postgres_schema, require_redis

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def pg_store() -> Iterator[str]:
    """A ``store:`` URL on the test PostgreSQL, in a schema of its own."""
    with postgres_schema() as url:
        yield url


@pytest.fixture
def redis_url() -> Iterator[str]:
    """The test Redis, with a key prefix of this test's own (removed afterwards)."""
    import redis

    url = require_redis()
    prefix = f"nktest:{uuid.uuid4().hex[:10]}"
    yield f"{url}#{prefix}"
    client = redis.Redis.from_url(url)
    keys = list(client.scan_iter(f"{prefix}*"))
    if keys:
        client.delete(*keys)
    client.close()


def split(url: str) -> tuple[str, str]:
    """The Redis URL and the key prefix of a :func:`redis_url` value."""
    base, _, prefix = url.partition("#")
    return base, prefix


class Procs:
    """Subprocesses in their own process groups, with log files; all ended at teardown."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, argv: list[str], env: dict[str, str], cwd: Path) -> Any:
        out = (self.logs / f"{name}.out").open("wb")
        err = (self.logs / f"{name}.err").open("wb")
        # This checkout's plugins too, not the installed ones (a worktree's own changes).
        path = os.pathsep.join((str(ROOT), str(ROOT / "plugins")))
        full = {**os.environ, **env, "PYTHONPATH": path}
        proc = subprocess.Popen(
            argv,
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
            env=full,
            cwd=cwd,
            start_new_session=True,
        )
        out.close()
        err.close()
        self.procs[name] = proc
        return proc

    def kill(self, name: str) -> None:
        """SIGKILL the process and every process of its group (a Celery worker's children)."""
        proc = self.procs[name]
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)

    def stop(self, name: str, timeout: float = 30) -> int:
        proc = self.procs[name]
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            return proc.wait(timeout=10)

    def stderr(self, name: str) -> str:
        return (self.logs / f"{name}.err").read_text(errors="replace")[-4000:]

    def close(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[Procs]:
    group = Procs(tmp_path)
    yield group
    group.close()


PYTHON = sys.executable


# The reliable-delivery fixtures: a simulator and Notifiers on a SQLite ledger in tmp_path.
from tests.delivery.conftest import clock, make_kit, sim  # noqa: E402, F401
