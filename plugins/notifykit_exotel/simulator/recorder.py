"""One thread-safe, waitable log for everything the simulator and the receiver record.

Requests, callback attempts and received webhooks arrive on server threads while a test reads
them on its own: :class:`Recorder` keeps them in arrival order behind one condition, so a test
can take a snapshot or block until ``n`` have arrived instead of sleeping.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")

#: Where an item was recorded: ``(generation, index)``; ``clear()`` starts a new generation.
Slot = tuple[int, int]


class Recorder(Generic[T]):
    """An append-only list guarded by a condition; ``what`` names the items in timeout errors."""

    def __init__(self, what: str) -> None:
        self.what = what
        self._items: list[T] = []
        self._generation = 0
        self._changed = threading.Condition()

    def add(self, item: T) -> Slot:
        """Record ``item`` and wake every waiter; returns its slot for :meth:`update`."""
        with self._changed:
            self._items.append(item)
            self._changed.notify_all()
            return self._generation, len(self._items) - 1

    def update(self, slot: Slot, change: Callable[[T], T]) -> None:
        """Replace the item in ``slot`` by ``change(item)``, unless it was cleared since."""
        with self._changed:
            generation, index = slot
            if generation == self._generation and index < len(self._items):
                self._items[index] = change(self._items[index])
                self._changed.notify_all()

    def snapshot(self) -> list[T]:
        """Everything recorded so far, in arrival order (a copy)."""
        with self._changed:
            return list(self._items)

    def last(self) -> T | None:
        """The most recent item, or None."""
        with self._changed:
            return self._items[-1] if self._items else None

    def wait_for(self, n: int, timeout: float = 5.0) -> list[T]:
        """Block until at least ``n`` items were recorded; return them all.

        Raises TimeoutError naming how many did arrive, so a failing test says what it saw.
        """
        with self._changed:
            if not self._changed.wait_for(lambda: len(self._items) >= n, timeout):
                raise TimeoutError(
                    f"waited {timeout}s for {n} {self.what}, but only {len(self._items)} arrived"
                )
            return list(self._items)

    def clear(self) -> None:
        """Forget everything recorded (slots handed out before are no longer updated)."""
        with self._changed:
            self._items.clear()
            self._generation += 1
