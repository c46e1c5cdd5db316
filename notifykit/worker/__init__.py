"""Delivery: the dispatcher (jobs → channels → ledger), the retry policy, and the worker."""

from __future__ import annotations

from notifykit.worker.dispatch import Dispatcher
from notifykit.worker.retry import RetryPolicy
from notifykit.worker.worker import Worker, WorkerResult

__all__ = ["Dispatcher", "RetryPolicy", "Worker", "WorkerResult"]
