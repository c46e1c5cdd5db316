"""The one lease keeper: deliveries leased to a sender (``notify()``, a worker, a Celery task)
stay its own while it works on them.

A sender holds the ids it is working on (:meth:`LeaseKeeper.hold`, :meth:`drop`); every third of
the lease, :meth:`keep` leases them for another full lease. ``notify()`` calls :meth:`keep` as
each of its groups starts (no thread for the common short send; a long broadcast is renewed as it
goes); a worker and a Celery task run it on a thread (:meth:`running`), which also carries the
worker's heartbeat. Without it a send that outlasts the lease (a rate limit, a slow provider)
would find its later deliveries taken over by another worker, and its deliveries in flight
recovered as ``unknown``.

While the ledger is unavailable (a PostgreSQL restart...) renewals fail; the keeper keeps trying
at each third of the lease, and a worker's failures are said once per outage
(:class:`~notifykit.delivery.outage.Outage`). An outage longer than the lease lets the leases
run out, and that is safe: what was not started yet is started by whoever claims it next
(:meth:`~notifykit.ledger.base.Ledger.begin_send` checks the lease, so never by two senders),
and what was in flight may be recovered as ``unknown`` by another worker, never sent again —
its outcome, recorded once the ledger is back, still replaces the ``unknown``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from notifykit.errors import LedgerError, LedgerUnavailable

if TYPE_CHECKING:
    from notifykit.delivery.outage import Outage
    from notifykit.ledger.base import Ledger

__all__ = ["RENEW_CHUNK", "LeaseKeeper"]

logger = logging.getLogger("notifykit.worker")

#: ids renewed per statement (SQL parameter limits)
RENEW_CHUNK = 500


class LeaseKeeper:
    """Keeps ``owner``'s lease of ``lease`` seconds on the ids it holds (see the module
    docstring). ``also(now)`` runs at each renewal (the worker's heartbeat); ``outage`` hears
    of renewals that failed because the ledger is unavailable (else each is logged)."""

    def __init__(
        self,
        ledger: Ledger,
        owner: str,
        lease: float,
        clock: Callable[[], float],
        *,
        ids: Iterable[str] = (),
        also: Callable[[float], None] | None = None,
        outage: Outage | None = None,
    ) -> None:
        self._ledger = ledger
        self._outage = outage
        self.owner = owner
        self.lease = lease
        self._clock = clock
        self._also = also
        self._ids: dict[str, None] = dict.fromkeys(ids)
        self._lock = threading.Lock()
        self._renewed = clock()
        self._stop = threading.Event()

    def hold(self, ids: Iterable[str]) -> None:
        with self._lock:
            self._ids.update(dict.fromkeys(ids))

    def drop(self, ids: Iterable[str]) -> None:
        with self._lock:
            for i in ids:
                self._ids.pop(i, None)

    def keep(self, *, force: bool = False) -> None:
        """Renew the lease on every id held, if a third of it has passed since the last
        renewal (``force``: now)."""
        now = self._clock()
        with self._lock:
            if not force and now - self._renewed < self.lease / 3:
                return
            self._renewed = now
            ids = list(self._ids)
        began = time.monotonic()
        try:
            for i in range(0, len(ids), RENEW_CHUNK):
                self._ledger.renew(self.owner, ids[i : i + RENEW_CHUNK], now + self.lease)
            if self._also is not None:
                self._also(now)
        except LedgerError as err:
            # Tried again at the next renewal; begin_send still checks the lease: what is no
            # longer ours is not sent.
            if self._outage is not None and isinstance(err, LedgerUnavailable):
                self._outage.failed(err, began)
            else:
                logger.error("%s: renewing leases failed: %s", self.owner, err)

    @contextmanager
    def running(self) -> Iterator[LeaseKeeper]:
        """Renew on a thread of its own, every third of the lease, until the block ends."""
        interval = max(0.05, self.lease / 3)

        def loop() -> None:
            while not self._stop.wait(interval):
                try:
                    self.keep(force=True)
                except Exception:
                    logger.exception("%s: renewing leases failed", self.owner)

        self._stop.clear()
        thread = threading.Thread(target=loop, name=f"{self.owner}-leases", daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            thread.join(timeout=5)
