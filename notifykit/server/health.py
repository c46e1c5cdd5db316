"""Readiness (``GET /readyz``): whether this server can do its work now, not only answer.

Three checks, each reported by name with what it found:

- ``ledger``: a row written in a transaction of its own and read back in another (a corrupt,
  locked or read-only ledger fails it, where ``/healthz`` still says the process is alive);
- ``disk``: the directory of a SQLite ledger takes a small file, synced, and keeps at least
  :data:`MIN_FREE_BYTES` free (a full disk fails it before SQLite's next checkpoint does); a
  PostgreSQL ledger's disk is its server's, which the ledger check covers;
- ``worker``: a ``notifykit worker`` was seen on the ledger within two ``worker.lease``
  periods (nothing else fires escalation steps and retries). With ``dispatch: celery`` Celery's
  beat does that and is not in the ledger, and with ``server.watch_workers: false`` the
  deployment runs no worker on purpose: the check says so and passes.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from notifykit.notifier import Notifier

__all__ = ["MIN_FREE_BYTES", "Readiness"]

#: a SQLite ledger's disk with less free space than this is not ready: the WAL alone grows to
#: about 32 MiB between checkpoints, and an accepted notification must fit
MIN_FREE_BYTES = 16 * 1024 * 1024
_PROBE_BYTES = 4096


class Readiness:
    """The checks of ``/readyz`` for one Notifier."""

    def __init__(self, notifier: Notifier) -> None:
        self.notifier = notifier
        self.name = f"readyz:{socket.gethostname()}:{os.getpid()}"

    def check(self) -> dict[str, Any]:
        """``{"ready": bool, "checks": {name: {"ok": bool, "detail": str}}}``."""
        checks = {
            "ledger": self._ledger(),
            "disk": self._disk(),
            "worker": self._worker(),
        }
        return {"ready": all(c["ok"] for c in checks.values()), "checks": checks}

    def _ledger(self) -> dict[str, Any]:
        now = time.time()
        try:
            read = self.notifier.ledger.probe(self.name, now)
        except Exception as err:
            return _failed(f"{type(err).__name__}: {err}")
        if read != now:
            return _failed(f"wrote {now!r} and read back {read!r}")
        return _ok("a write and a read succeeded")

    def _disk(self) -> dict[str, Any]:
        try:
            ledger = self.notifier.ledger
        except Exception as err:
            return _failed(f"{type(err).__name__}: {err}")
        from notifykit.ledger.sqlite import SqliteLedger

        if not isinstance(ledger, SqliteLedger):
            return _ok("the ledger's database server keeps it (the ledger check wrote to it)")
        if ledger.location == ":memory:":
            return _ok("the ledger is in memory")
        directory = Path(ledger.location).resolve().parent
        probe = directory / f".notifykit-readyz-{os.getpid()}"
        try:
            with open(probe, "wb") as f:
                f.write(b"\0" * _PROBE_BYTES)
                f.flush()
                os.fsync(f.fileno())
        except OSError as err:
            return _failed(f"cannot write in {directory}: {err.strerror or err}")
        finally:
            with contextlib.suppress(OSError):
                probe.unlink()
        free = shutil.disk_usage(directory).free
        if free < MIN_FREE_BYTES:
            return _failed(
                f"{directory} has {free // 1024} KiB free, less than "
                f"{MIN_FREE_BYTES // (1024 * 1024)} MiB: free some space"
            )
        return _ok(f"{directory} is writable, {free // (1024 * 1024)} MiB free")

    def _worker(self) -> dict[str, Any]:
        config = self.notifier.config
        if config.scaleout.dispatch == "celery":
            return _ok("dispatch: celery: Celery beat and workers are not in the ledger")
        if not config.server.watch_workers:
            return _ok("server.watch_workers is false: no notifykit worker is expected")
        window = 2 * config.worker.lease
        try:
            seen = self.notifier.ledger.workers(time.time(), window)
        except Exception as err:
            return _failed(f"{type(err).__name__}: {err}")
        if not seen:
            return _failed(
                f"no notifykit worker seen in the last {window:g} s: escalation steps and "
                "retries wait for one (start notifykit worker)"
            )
        return _ok(f"{len(seen)} worker{'s' if len(seen) != 1 else ''} seen")


def _ok(detail: str) -> dict[str, Any]:
    return {"ok": True, "detail": detail}


def _failed(detail: str) -> dict[str, Any]:
    return {"ok": False, "detail": detail}
