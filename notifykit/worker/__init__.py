"""Delivery: the dispatcher (jobs → channels → ledger), the retry policy, and the worker.

The names are imported on first use (PEP 562): a Notifier needs the dispatcher and the retry
policy, and only a worker needs :class:`Worker` (threads, the ledger's claims).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from notifykit.worker.dispatch import Dispatcher
    from notifykit.worker.retry import RetryPolicy
    from notifykit.worker.worker import Worker, WorkerResult

__all__ = ["Dispatcher", "RetryPolicy", "Worker", "WorkerResult"]

_LAZY = {
    "Dispatcher": "notifykit.worker.dispatch",
    "RetryPolicy": "notifykit.worker.retry",
    "Worker": "notifykit.worker.worker",
    "WorkerResult": "notifykit.worker.worker",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        # A submodule, as after the eager imports this package used to make
        # (``import notifykit.worker`` then ``notifykit.worker.<module>``).
        try:
            return import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as err:
            if err.name != f"{__name__}.{name}":
                raise
        raise AttributeError(f"module 'notifykit.worker' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
