"""Progression rules: how each new call or SMS will end, decided when it is created.

A test (or the command line, or the admin endpoint) sets rules per number (``set_outcome``) or
for a fraction of new items (``set_outcome_fraction``); everything else ends well (``completed``,
``sent``). The outcome is fixed at creation as a *plan*, so stepping a message along later, by
``advance()``/``complete()`` or by the auto-progress timer, is deterministic and needs no sleep.
"""

from __future__ import annotations

import random
import re
import threading
from dataclasses import asdict, dataclass
from typing import Any, Literal

Kind = Literal["call", "sms"]

CALL_OUTCOMES = ("completed", "busy", "no-answer", "failed", "canceled")
SMS_OUTCOMES = ("sent", "failed", "failed_dnd")
#: The duration (seconds) of an answered call unless a rule says otherwise.
DEFAULT_CALL_DURATION = 17


@dataclass(frozen=True)
class CallPlan:
    """How a call will end: its terminal status, and the duration if it was answered."""

    status: str = "completed"
    duration: int = DEFAULT_CALL_DURATION
    answered_by: str | None = "Human"


@dataclass(frozen=True)
class SmsPlan:
    """How an SMS will end: its final status and (optionally) the DetailedStatusCode."""

    status: str = "sent"
    detailed_status_code: int | None = None


@dataclass
class _Fraction:
    kind: Kind
    outcome: str
    fraction: float
    seed: int | None
    rng: random.Random


def kinds_for(outcome: str, kind: Kind | None) -> list[Kind]:
    """Which kinds an outcome applies to (``failed`` fits both); ValueError when none."""
    fits: list[Kind] = []
    if outcome in CALL_OUTCOMES and kind in (None, "call"):
        fits.append("call")
    if outcome in SMS_OUTCOMES and kind in (None, "sms"):
        fits.append("sms")
    if not fits:
        raise ValueError(
            f"unknown outcome {outcome!r}"
            + (f" for {kind}s" if kind else "")
            + f": calls end {'|'.join(CALL_OUTCOMES)}, SMS end {'|'.join(SMS_OUTCOMES)}"
        )
    return fits


def _digits(number: str) -> str:
    digits = re.sub(r"\D", "", number)[-10:]
    if not digits:
        raise ValueError(f"{number!r} is not a phone number (rules match on the last 10 digits)")
    return digits


class Rules:
    """The outcome rules of one simulator; thread-safe (handlers create items on many threads)."""

    def __init__(self, call_duration: int = DEFAULT_CALL_DURATION) -> None:
        if call_duration < 1:
            raise ValueError("call_duration must be at least 1 second")
        self.call_duration = call_duration
        self._lock = threading.Lock()
        self._calls: dict[str, CallPlan] = {}
        self._sms: dict[str, SmsPlan] = {}
        self._fractions: list[_Fraction] = []

    def set_outcome(
        self,
        number: str,
        outcome: str,
        *,
        kind: Kind | None = None,
        duration: int | None = None,
        detailed_status_code: int | None = None,
    ) -> None:
        """Every later call/SMS to ``number`` (matched on its last 10 digits) ends ``outcome``."""
        digits = _digits(number)
        fits = kinds_for(outcome, kind)
        if duration is not None and duration < 1:
            raise ValueError("duration must be at least 1 second")
        with self._lock:
            if "call" in fits:
                answered = outcome == "completed"
                self._calls[digits] = CallPlan(
                    status=outcome,
                    duration=(duration or self.call_duration) if answered else 0,
                    answered_by="Human" if answered else None,
                )
            if "sms" in fits:
                self._sms[digits] = SmsPlan(outcome, detailed_status_code)

    def set_outcome_fraction(
        self, outcome: str, fraction: float, *, kind: Kind | None = None, seed: int | None = None
    ) -> None:
        """A ``fraction`` of later items (not covered by a per-number rule) end ``outcome``.

        Each rule draws from its own random generator, seeded by ``seed``, once per new item of
        its kind, in creation order; the first rule that fires wins. Same seed, same order, same
        outcomes.
        """
        if not 0.0 <= fraction <= 1.0:
            raise ValueError(f"fraction must be between 0 and 1, not {fraction!r}")
        fits = kinds_for(outcome, kind)
        with self._lock:
            for each in fits:
                self._fractions.append(
                    _Fraction(each, outcome, fraction, seed, random.Random(seed))
                )

    def clear(self) -> None:
        """Forget every rule: everything ends well again."""
        with self._lock:
            self._calls.clear()
            self._sms.clear()
            self._fractions.clear()

    def _fraction_outcome(self, kind: Kind) -> str | None:
        hit = None
        for rule in self._fractions:
            # Every rule of the kind draws, fired or not, so one rule's sequence does not depend
            # on whether an earlier rule fired.
            if rule.kind == kind and rule.rng.random() < rule.fraction and hit is None:
                hit = rule.outcome
        return hit

    def plan_call(self, number: str) -> CallPlan:
        """The plan for a new call dialling ``number`` (To, or From for a flow call)."""
        with self._lock:
            fixed = self._calls.get(_digits(number))
            drawn = self._fraction_outcome("call")
            if fixed is not None:
                return fixed
            if drawn is not None and drawn != "completed":
                return CallPlan(status=drawn, duration=0, answered_by=None)
            return CallPlan(duration=self.call_duration)

    def plan_sms(self, number: str, *, dnd: bool) -> SmsPlan:
        """The plan for a new SMS to ``number``; ``dnd``: it is promotional and the number DND."""
        with self._lock:
            fixed = self._sms.get(_digits(number))
            drawn = self._fraction_outcome("sms")
            if fixed is not None:
                return fixed
            if dnd:
                return SmsPlan("failed_dnd")
            return SmsPlan(drawn or "sent")

    def describe(self) -> dict[str, Any]:
        """The rules as JSON-ready data (for the admin endpoint)."""
        with self._lock:
            return {
                "call_duration": self.call_duration,
                "calls": {number: asdict(plan) for number, plan in self._calls.items()},
                "sms": {number: asdict(plan) for number, plan in self._sms.items()},
                "fractions": [
                    {
                        "kind": rule.kind,
                        "outcome": rule.outcome,
                        "fraction": rule.fraction,
                        "seed": rule.seed,
                    }
                    for rule in self._fractions
                ],
            }
