"""The circuit breaker of each provider account (issue 18, docs/circuit-breaker.md).

A channel of a provider's type sends through one provider account; its circuit is keyed
``<provider>:<account>`` (``exotel:main``), so every channel on the account shares it. Channels of
no provider (``console``, plugins' webhooks) have none: nothing is skipped for them.

- **closed**: sends go out. A send (one batch: one notification's recipients on one channel) that
  failed on the provider's side counts one failure: a result ``failed`` and
  :attr:`~notifykit.channels.DeliveryResult.provider_side` (a refused account, a refused
  connection, a 5xx before processing, throttling), or ``unknown`` (a timeout: the provider may
  be down). Our own infrastructure failing (the shared rate limiter's store) and a failure that
  lies with the recipient count nothing. A send with a ``sent`` result forgets the failures.
  ``failures`` of them within ``window`` (counted from the first) open the circuit.
- **open**: for ``cool_down``, nothing is sent through the account: a delivery whose channel has
  a ``fallback`` is recorded ``failed`` (not attempted) and its fallback takes over; one without
  waits ``pending``, due when the cool-down ends (never failed, never lost).
- **half_open**: once the cool-down is over, exactly one sender (compare-and-set in the ledger)
  takes the probe: it sends the first delivery of its batch and skips the rest; everyone else
  keeps skipping. A ``sent`` probe (or one the provider refused for the recipient: it answered)
  closes the circuit; a provider-side failure opens it for another cool-down; a probe that
  decided nothing (not started, our own infrastructure) lets the next sender probe.

The state lives in the ledger (:class:`~notifykit.ledger.circuits.CircuitStore`), shared by every
worker and ``notify()`` on it. When the ledger cannot be read or written, the breaker fails
*open to sending*: our own infrastructure failing is no reason to page nobody.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from notifykit.channels.base import DeliveryResult
from notifykit.config.delivery import CircuitSettings
from notifykit.model import DeliveryState

if TYPE_CHECKING:
    from notifykit.ledger.base import Ledger
    from notifykit.ledger.circuits import CircuitRow, CircuitStore

__all__ = ["CircuitBreakers", "Verdict", "vote"]

logger = logging.getLogger("notifykit.circuit")

#: while another sender's probe is out, the skipped deliveries look again this often (the probe
#: may close the circuit long before its time runs out)
PROBE_RECHECK = 5.0
#: how long (seconds, monotonic) a process trusts a circuit it read closed with no failure
#: counted, without reading it again: a notify() costs no read, and a process whose own sends
#: fail reads it again at once (a failure forgets it). Another process may open the circuit
#: meanwhile: this one then sends for at most this long through it (and its failures count).
CLOSED_TRUST = 1.0


def _iso(when: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when))


def _span(seconds: float) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:g}h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g}m"
    return f"{seconds:g}s"


def vote(result: DeliveryResult) -> Literal["up", "down"] | None:
    """What one result says of the provider account: ``up`` (it answered: ``sent``, or a
    failure that lies with the recipient), ``down`` (a failure on the provider's side, or
    ``unknown``: it may be down), ``None`` (nothing: our own infrastructure failed, or the
    request never started)."""
    state = result.state
    if state is DeliveryState.SENT:
        return "up"
    if state is DeliveryState.UNKNOWN:
        return "down"
    if state is DeliveryState.FAILED:
        if result.infrastructure is not None:
            return None
        return "down" if result.provider_side else "up"
    return None


@dataclass(frozen=True)
class Verdict:
    """What the breaker says of a send: ``send`` (closed), ``probe`` (send one, the rest are
    skipped), or ``skip`` (send nothing; ``until``: when to try again, ``reason``: the error
    text of the skipped deliveries)."""

    action: Literal["send", "probe", "skip"]
    key: str | None = None
    until: float | None = None
    reason: str | None = None
    #: the circuit was closed with no failure counted: a success has nothing to write
    clean: bool = True


#: the verdict for a channel with no breaker, or when the ledger could not say
SEND = Verdict("send")


class CircuitBreakers:
    """The breakers of the provider accounts (see the module docstring). ``keys``: the circuit
    key of each channel that has one (``exotel:main``); the state is in the store each call is
    given (the ledger's :attr:`~notifykit.ledger.base.SqlLedger.circuits`)."""

    def __init__(
        self,
        settings: CircuitSettings,
        keys: Mapping[str, str],
        scrub: Callable[[str], str] = lambda text: text,
    ) -> None:
        self.settings = settings
        self.keys = dict(keys) if settings.enabled else {}
        self._scrub = scrub
        #: the state this process last saw each circuit in (a hint only: see :meth:`seen_open`)
        self._seen: dict[str, str] = {}
        #: until when (monotonic) each circuit read closed and clean is trusted (CLOSED_TRUST)
        self._trusted: dict[str, float] = {}

    def seen_open(self, channel: str) -> bool:
        """Whether this process last saw ``channel``'s circuit not closed. A hint, never the
        decision (:meth:`allow` reads the ledger): ``notify()`` does not store such a delivery
        ``sending`` ahead of its send, where it would count an attempt for nothing."""
        key = self.keys.get(channel)
        return key is not None and self._seen.get(key, "closed") != "closed"

    def key(self, channel: str) -> str | None:
        """The circuit of ``channel`` (``None``: it has none)."""
        return self.keys.get(channel)

    def _open_reason(self, key: str, row: CircuitRow, probe: str) -> str:
        failures = f"{row.failures} provider-side failure{'s' if row.failures != 1 else ''}"
        return (
            f"not sent: circuit open for account {key} ({failures} in "
            f"{_span(self.settings.window)}; {probe})"
        )

    def allow(self, ledger: Ledger, channel: str, owner: str, now: float) -> Verdict:
        """Whether ``owner`` may send through ``channel``'s account now (see :class:`Verdict`).
        Fails open: a ledger error is logged and the answer is ``send``."""
        key = self.key(channel)
        if key is None:
            return SEND
        trusted = self._trusted.get(key)
        if trusted is not None and time.monotonic() < trusted:
            return Verdict("send", key)
        try:
            store = ledger.circuits
            row = store.get(key)
            self._seen[key] = row.state if row is not None else "closed"
            if row is None or (row.state == "closed" and row.failures <= 0):
                self._trusted[key] = time.monotonic() + CLOSED_TRUST
                return Verdict("send", key)
            if row.state == "closed":
                return Verdict("send", key, clean=False)
            if row.state == "open" and row.reopen_at is not None and now < row.reopen_at:
                reason = self._open_reason(key, row, f"probe at {_iso(row.reopen_at)}")
                return Verdict("skip", key, row.reopen_at, reason)
            if row.state == "half_open" and row.probe_until is not None and now < row.probe_until:
                until = min(row.probe_until, now + PROBE_RECHECK)
                reason = self._open_reason(key, row, "a probe is out")
                return Verdict("skip", key, until, reason)
            until = now + self.settings.cool_down
            if store.take_probe(key, owner, now, until, was=row):
                logger.info("circuit of account %s: cool-down over, %s sends one probe", key, owner)
                return Verdict("probe", key, until, clean=False)
            retry = min(until, now + PROBE_RECHECK)
            return Verdict("skip", key, retry, self._open_reason(key, row, "a probe is out"))
        except Exception as err:
            logger.error(
                "circuit of account %s could not be read (%s: %s); sending as if closed: our "
                "own infrastructure failing is no reason to page nobody",
                key,
                type(err).__name__,
                self._scrub(str(err)),
            )
            return Verdict("send", key)

    def record(
        self,
        ledger: Ledger,
        verdict: Verdict,
        owner: str,
        results: Sequence[DeliveryResult],
        now: float,
    ) -> None:
        """What a send through the account says of it: ``results`` of a ``send`` count a
        failure or forget them, the probe's result (the one result of a ``probe``) closes or
        reopens the circuit. Fails open: a ledger error is logged, nothing else."""
        key = verdict.key
        if key is None or verdict.action == "skip":
            return
        votes = [vote(r) for r in results]
        if "down" in votes:  # read the circuit again before the next send
            self._trusted.pop(key, None)
        try:
            store = ledger.circuits
            if verdict.action == "probe":
                self._probed(store, key, owner, results, votes, now)
                return
            if "down" in votes and not any(r.state is DeliveryState.SENT for r in results):
                failed = next(r for r, v in zip(results, votes, strict=True) if v == "down")
                self._failed(store, key, failed, now)
            elif not verdict.clean and any(r.state is DeliveryState.SENT for r in results):
                store.reset(key, now)
        except Exception as err:
            logger.error(
                "circuit of account %s could not be updated (%s: %s); it goes on as it was",
                key,
                type(err).__name__,
                self._scrub(str(err)),
            )

    def _error(self, result: DeliveryResult) -> str:
        return self._scrub(result.error or result.state.value)[:300]

    def _failed(self, store: CircuitStore, key: str, result: DeliveryResult, now: float) -> None:
        settings = self.settings
        row, opened = store.count_failure(
            key,
            now,
            window=settings.window,
            threshold=settings.failures,
            cool_down=settings.cool_down,
            error=self._error(result),
        )
        if opened:
            self._seen[key] = "open"
            logger.warning(
                "circuit of account %s OPEN: %d provider-side failures within %s (last: %s); "
                "nothing is sent through it until %s: deliveries go to their fallback, or wait; "
                "then one probe decides",
                key,
                row.failures,
                _span(settings.window),
                row.last_error,
                _iso(row.reopen_at or now),
            )

    def _probed(
        self,
        store: CircuitStore,
        key: str,
        owner: str,
        results: Sequence[DeliveryResult],
        votes: Sequence[str | None],
        now: float,
    ) -> None:
        if "up" in votes:
            self._seen[key] = "closed"
            if store.close(key, owner, now):
                logger.info("circuit of account %s closed: the probe went through", key)
        elif "down" in votes:
            failed = next(r for r, v in zip(results, votes, strict=True) if v == "down")
            reopen = now + self.settings.cool_down
            if store.reopen(key, owner, now, reopen, self._error(failed)):
                logger.warning(
                    "circuit of account %s OPEN again: the probe failed (%s); next probe at %s",
                    key,
                    self._error(failed),
                    _iso(reopen),
                )
        else:  # not started, or our own infrastructure: the next sender probes
            store.reopen(key, owner, now, now, None)

    def release(self, ledger: Ledger, verdict: Verdict, owner: str, now: float) -> None:
        """A probe taken but not sent (its lease lost, a stop): the next sender probes."""
        if verdict.action != "probe" or verdict.key is None:
            return
        try:
            ledger.circuits.reopen(verdict.key, owner, now, now, None)
        except Exception as err:
            logger.error(
                "circuit of account %s: the probe could not be given back (%s); another sender "
                "takes it over once its time runs out",
                verdict.key,
                type(err).__name__,
            )


def circuit_keys(
    channels: Mapping[str, tuple[str | None, str | None]],
) -> dict[str, str]:
    """The circuit key of each channel given as ``name: (provider, account)``: ``provider:account``
    for a channel of a provider's type with an account, none for the others."""
    return {
        name: f"{provider}:{account}"
        for name, (provider, account) in channels.items()
        if provider and account
    }
