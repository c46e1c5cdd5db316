"""Delivery: the dispatcher (jobs → channels → ledger), the retry policy, and the worker.

The names are imported on first use (PEP 562): a Notifier needs the dispatcher and the retry
policy, and only a worker needs :class:`Worker` (threads, the ledger's claims).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from notifykit._lazy import lazy_exports

if TYPE_CHECKING:
    from notifykit.delivery.dispatch import Dispatcher
    from notifykit.delivery.retry import RetryPolicy
    from notifykit.delivery.worker import Worker, WorkerResult

__all__ = ["Dispatcher", "RetryPolicy", "Worker", "WorkerResult"]

_LAZY = {
    "Dispatcher": "notifykit.delivery.dispatch",
    "RetryPolicy": "notifykit.delivery.retry",
    "Worker": "notifykit.delivery.worker",
    "WorkerResult": "notifykit.delivery.worker",
}


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals(), __all__)
