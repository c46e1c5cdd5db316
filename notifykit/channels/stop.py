"""Stopping sends in flight: what Ctrl-C, SIGTERM and :meth:`Worker.stop` ask of them.

A :class:`SendStop` is set in two steps. :meth:`SendStop.stop` (the first signal): no new request
is started; the requests in flight finish and their answers are recorded, and what was not started
goes back to ``pending``. :meth:`SendStop.abandon` (a second signal): the requests still in flight
are no longer waited for; their deliveries are recorded ``unknown`` (they may have been sent).

The dispatcher runs each stoppable ``Channel.send()`` under a :class:`Sending` record. A channel
that makes several requests in one ``send()`` cooperates through two functions:
:func:`send_stopped` (may I go on?) and :func:`request_starting` (called right before each
request, with the addresses it is for: may I send it?). When they answer a reason, the channel
starts no further request and reports each recipient it did not start with
:meth:`DeliveryResult.not_started <notifykit.channels.base.DeliveryResult.not_started>`. When the
send is abandoned, the recipients whose requests were started are ``unknown`` and the others are
given back; a channel that never calls these functions gets every recipient ``unknown``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

__all__ = [
    "SendStop",
    "Sending",
    "current_stop",
    "request_starting",
    "send_stopped",
    "stopping_on",
]


class SendStop:
    """Asks the sends it governs to start no new request (:meth:`stop`), then to stop waiting
    for the requests in flight (:meth:`abandon`). Thread-safe; safe to call from a signal
    handler (it only sets flags and events).

    ``abandonable``: whether it may be abandoned. The dispatcher then runs each send in a thread
    of its own, which it can stop waiting for; without it, a stop only stops new requests and
    the sends run in the dispatcher's threads."""

    def __init__(self, *, abandonable: bool = True) -> None:
        self.abandonable = abandonable
        self._reason: str | None = None
        self._abandoned = threading.Event()
        self._lock = threading.Lock()
        self._wakers: set[threading.Event] = set()
        #: the notifications whose deliveries were sent under this stop, in order
        self.notifications: list[str] = []

    def __repr__(self) -> str:
        state = "abandoned" if self.abandoned else "stopped" if self.stopped else "running"
        return f"<SendStop {state}{f' ({self._reason})' if self._reason else ''}>"

    @property
    def reason(self) -> str | None:
        """Why the sends were stopped (``"SIGINT"``, ``"SIGTERM"``...), or ``None``."""
        return self._reason

    @property
    def stopped(self) -> bool:
        return self._reason is not None

    @property
    def abandoned(self) -> bool:
        """Whether the requests in flight are no longer waited for."""
        return self._abandoned.is_set()

    def stop(self, reason: str = "stopped") -> None:
        """Start no new request; the first reason given is kept."""
        if self._reason is None:
            self._reason = reason

    def abandon(self, reason: str = "stopped") -> None:
        """Stop, and stop waiting for the requests in flight: every waiter wakes up now."""
        if not self.abandonable:
            raise ValueError("this SendStop cannot be abandoned: stop() it")
        self.stop(reason)
        self._abandoned.set()
        with self._lock:
            wakers = list(self._wakers)
        for event in wakers:
            event.set()

    @contextmanager
    def waking(self, event: threading.Event) -> Iterator[None]:
        """Within it, :meth:`abandon` also sets ``event`` (what a waiter waits on)."""
        with self._lock:
            self._wakers.add(event)
        try:
            if self.abandoned:
                event.set()
            yield
        finally:
            with self._lock:
                self._wakers.discard(event)


class Sending:
    """One ``Channel.send()`` under a :class:`SendStop`: which of its recipients' requests were
    started, as the channel said through :func:`request_starting`. ``addresses``: the
    recipients' addresses (a request naming another address cannot be told apart)."""

    def __init__(self, stop: SendStop, addresses: Iterable[str | None]) -> None:
        self.stop = stop
        self._known = {a for a in addresses if a}
        self._lock = threading.Lock()
        self._cooperates = False
        self._started: set[str] = set()
        self._unattributed = False

    def check(self) -> str | None:
        """:func:`send_stopped` for this send. (It says nothing of which requests started: a
        channel that only asks this is still taken to have sent to anyone.)"""
        return self.stop.reason

    def starting(self, addresses: Iterable[str]) -> str | None:
        """:func:`request_starting` for this send: under the lock, so a request is either
        refused (stopped) or counted as started before an abandon reads the count."""
        with self._lock:
            self._cooperates = True
            if self.stop.stopped:
                return self.stop.reason
            for address in addresses:
                if address in self._known:
                    self._started.add(address)
                else:
                    self._unattributed = True
            return None

    def may_have_started(self, address: str | None) -> bool:
        """Whether a request for ``address`` may have gone out: yes when the channel said so,
        and for every recipient when it never called :func:`request_starting` (it does not
        say, or it had not started any request yet) or named an address it was not given."""
        with self._lock:
            if not self._cooperates or self._unattributed:
                return True
            return address in self._started


_STOP: ContextVar[SendStop | None] = ContextVar("notifykit_send_stop", default=None)
_SENDING: ContextVar[Sending | None] = ContextVar("notifykit_sending", default=None)


def current_stop() -> SendStop | None:
    """The stop governing sends in this thread (context), if any (see :func:`stopping_on`)."""
    return _STOP.get()


def send_stopped() -> str | None:
    """Why the send running in this thread must start no new request, or ``None`` to go on.

    A channel may call it before it starts (at the start of ``send()``): once it returns a
    reason (``"SIGINT"``...), it sends nothing more and reports each recipient not started with
    ``DeliveryResult.not_started(recipient, reason)``; the dispatcher gives those back
    (``pending``) instead of recording them failed. Before each request, a channel calls
    :func:`request_starting` instead, which also says whom the request is for.
    """
    sending = _SENDING.get()
    if sending is not None:
        return sending.check()
    stop = _STOP.get()
    return None if stop is None else stop.reason


def request_starting(addresses: Iterable[str] = ()) -> str | None:
    """Called by a channel right before each request it sends, with the addresses of the
    recipients that request is for (their phone numbers, as the channel got them; none for a
    lookup). ``None``: send it. A reason: the send was stopped, do not send it (see
    :func:`send_stopped`). If the send is later abandoned while this request's answer is
    awaited, exactly these recipients are recorded ``unknown``; the others are given back."""
    sending = _SENDING.get()
    if sending is not None:
        return sending.starting(addresses)
    stop = _STOP.get()
    return None if stop is None else stop.reason


@contextmanager
def stopping_on(stop: SendStop | None) -> Iterator[SendStop | None]:
    """Sends made inside (in this thread, or in tasks that copy its context) are governed by
    ``stop``: ``notifykit notify`` wraps ``Notifier.notify()`` in it, with signal handlers that
    call :meth:`SendStop.stop` and :meth:`SendStop.abandon`."""
    token = _STOP.set(stop)
    try:
        yield stop
    finally:
        _STOP.reset(token)


@contextmanager
def sending(record: Sending) -> Iterator[Sending]:
    """The dispatcher runs one ``Channel.send()`` inside: the functions above answer for it."""
    stop_token = _STOP.set(record.stop)
    token = _SENDING.set(record)
    try:
        yield record
    finally:
        _SENDING.reset(token)
        _STOP.reset(stop_token)
