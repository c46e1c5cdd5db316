"""Receivers and escalation policies, and a pure planner for escalation steps.

A receiver sends either straight through ``channels`` to ``to``, or through an ``escalation``
policy: steps that each fire ``after`` a delay *from the start of the escalation* unless the alert
has been acknowledged or resolved by then (PagerDuty's and Opsgenie's model, with absolute
offsets so the schedule reads as a timeline)::

    escalations:
      primary:
        steps:
          - {after: 0s,  channels: [sms],  to: [primary]}
          - {after: 5m,  channels: [call], to: [primary]}
          - {after: 10m, channels: [call], to: [secondary]}
        repeat: 1                # run the steps again this many times (default 0: once)
        repeat_every: 15m        # from the start of one round to the next (see below)
        ack_on_answer: true      # an answered call counts as acknowledgement
        keys: {ack: "1", escalate: "2", resolve: "3"}   # keys pressed on a paging call
        # keys: {snooze: "4", snooze_for: 30m}         # a snooze key too (none by default)
        ack_timeout: 30m         # acknowledged but not resolved by then: it re-opens

:func:`plan` turns a policy and a start time into the scheduled steps; :func:`advance` reschedules
what is left when a step's delivery failed, so the next step goes out at once. The ledger stores
the plan; nothing here does I/O or reads a clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

# declared apart (with the implicit routes' other parts, notifykit.routing.model): a route to a
# receiver needs no escalation policy, and a first notify() then imports none of this module
from notifykit.routing.receiver import Receiver

__all__ = [
    "DEFAULT_KEYS",
    "EscalationPolicy",
    "EscalationStep",
    "Keys",
    "Receiver",
    "ScheduledStep",
    "advance",
    "plan",
    "spoken_duration",
]


@dataclass(frozen=True)
class EscalationStep:
    """One step: ``after`` seconds from the start of its round, through ``channels`` to ``to``;
    ``fallback``: alternatives that replace its channels' own (docs/failover.md)."""

    after: float
    channels: tuple[str, ...]
    to: tuple[str, ...]
    fallback: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Keys:
    """The keys a paged person presses on a call that takes keys (a provider's flow, such as
    Exotel's): ``ack`` acknowledges, ``escalate`` sends the page to the next step now,
    ``resolve`` resolves the alert, ``snooze`` (none by default) pauses the escalation for
    ``snooze_for`` seconds (as ``notifykit ack KEY --snooze``); ``None`` turns an action off.
    ``instructions``: what the call says after the alert (default: built from the keys,
    :meth:`say`)."""

    ack: str | None = "1"
    escalate: str | None = "2"
    resolve: str | None = "3"
    instructions: str | None = None
    snooze: str | None = None
    snooze_for: float = 30 * 60.0

    def __post_init__(self) -> None:
        given = [k for k in (self.ack, self.escalate, self.resolve, self.snooze) if k is not None]
        if len(set(given)) != len(given):
            raise ValueError("two actions have the same key: give each its own")
        if self.snooze_for <= 0:
            raise ValueError("snooze_for must be a positive duration (30m, 2h)")

    def action(self, pressed: str) -> str | None:
        """``"ack"``, ``"escalate"``, ``"resolve"`` or ``"snooze"`` for the key ``pressed``
        (``None``: no action has it)."""
        for name in ("ack", "escalate", "resolve", "snooze"):
            if pressed and getattr(self, name) == pressed:
                return name
        return None

    def say(self) -> str:
        """The instructions spoken after the alert: "Press 1 to acknowledge, 2 to send it to
        the next person, 3 to resolve." (with a snooze key: "..., 4 to snooze for 30
        minutes."), or ``instructions``."""
        if self.instructions is not None:
            return self.instructions
        parts = [
            f"{key} to {what}"
            for key, what in (
                (self.ack, "acknowledge"),
                (self.escalate, "send it to the next person"),
                (self.resolve, "resolve"),
                (self.snooze, f"snooze for {spoken_duration(self.snooze_for)}"),
            )
            if key is not None
        ]
        return f"Press {', '.join(parts)}." if parts else ""


def spoken_duration(seconds: float) -> str:
    """A duration as a call says it: ``1800`` -> ``30 minutes``, ``5400`` -> ``1 hour 30
    minutes``, ``45`` -> ``45 seconds``."""
    words = []
    remaining = round(seconds)
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute"), (1, "second")):
        count, remaining = divmod(remaining, size)
        if count:
            words.append(f"{count} {unit}{'' if count == 1 else 's'}")
    return " ".join(words) or "0 seconds"


#: the keys of a policy that sets none
DEFAULT_KEYS = Keys()


@dataclass(frozen=True)
class EscalationPolicy:
    """An ``escalations:`` entry.

    ``repeat`` extra rounds follow the first; each starts ``repeat_every`` seconds after the
    previous one. By default ``repeat_every`` continues the rhythm: the last step's ``after`` plus
    the gap between the last two steps (0s, 5m, 10m -> 15m). A single-step policy that repeats
    must set it.
    """

    name: str
    steps: tuple[EscalationStep, ...]
    repeat: int = 0
    repeat_every: float | None = None
    ack_on_answer: bool = False
    #: the keys of its paging calls (``None``: the defaults, :data:`DEFAULT_KEYS`, and an
    #: answered call acknowledges when ``ack_on_answer`` says so); set, an answered call whose
    #: person pressed no key is not an acknowledgement
    keys: Keys | None = None
    #: an acknowledged alert not resolved within this many seconds re-opens, and its escalation
    #: starts again from the first step (PagerDuty's acknowledgement timeout); ``None``: never
    ack_timeout: float | None = None

    @property
    def call_keys(self) -> Keys:
        """The keys its calls take (its own, else the defaults)."""
        return self.keys or DEFAULT_KEYS

    def __post_init__(self) -> None:
        if not self.steps:
            raise ValueError(f"escalation {self.name!r} has no steps: add at least one")
        for earlier, later in zip(self.steps[:-1], self.steps[1:], strict=True):
            if later.after < earlier.after:
                raise ValueError(
                    f"escalation {self.name!r}: steps must be in order of 'after' (each counts "
                    "from the start of the escalation, not from the step before)"
                )
        if self.repeat < 0:
            raise ValueError(f"escalation {self.name!r}: repeat must be 0 or more")
        if self.repeat and self.round_length <= self.steps[-1].after:
            raise ValueError(
                f"escalation {self.name!r}: repeat_every must be longer than the last step's "
                f"'after' ({self.steps[-1].after:g}s), so a round ends before the next starts"
            )

    @property
    def round_length(self) -> float:
        """Seconds from the start of one round to the start of the next."""
        if self.repeat_every is not None:
            return self.repeat_every
        if len(self.steps) < 2:
            return 0.0
        return self.steps[-1].after + (self.steps[-1].after - self.steps[-2].after)


@dataclass(frozen=True)
class ScheduledStep:
    """One planned step: when it is due, what it sends to whom, and where it is in the policy.

    ``loop`` is 0 for the first round, 1 for the first repeat...; ``index`` the step's position
    in the policy. ``(loop, index)`` identifies a step within one escalation, so the ledger can
    store each once and a restarted worker repeats none.
    """

    due: datetime
    loop: int
    index: int
    channels: tuple[str, ...]
    to: tuple[str, ...]
    policy: str

    @property
    def id(self) -> str:
        """``"<loop>.<index>"``, unique within one escalation."""
        return f"{self.loop}.{self.index}"


def plan(policy: EscalationPolicy, start: datetime) -> list[ScheduledStep]:
    """Every step of ``policy`` for an escalation that starts at ``start`` (aware), in due order.

    :raises ValueError: ``start`` is naive.
    """
    if start.tzinfo is None:
        raise ValueError("plan() needs an aware start time (with a tzinfo), not a naive one")
    steps = []
    for loop in range(policy.repeat + 1):
        offset = loop * policy.round_length
        for index, step in enumerate(policy.steps):
            steps.append(
                ScheduledStep(
                    due=start + timedelta(seconds=offset + step.after),
                    loop=loop,
                    index=index,
                    channels=step.channels,
                    to=step.to,
                    policy=policy.name,
                )
            )
    return steps


def advance(pending: Sequence[ScheduledStep], at: datetime) -> list[ScheduledStep]:
    """The pending steps rescheduled after a step's delivery failed at ``at``.

    The next pending step becomes due at ``at`` (unless it already is earlier) and every later
    one moves earlier by the same amount, so the gaps between steps are kept. Nothing moves later.
    """
    ordered = sorted(pending, key=lambda s: (s.due, s.loop, s.index))
    if not ordered:
        return []
    shift = ordered[0].due - at
    if shift <= timedelta(0):
        return ordered
    return [replace(step, due=step.due - shift) for step in ordered]


def cancel_after(steps: Sequence[ScheduledStep], at: datetime) -> list[ScheduledStep]:
    """The steps that acknowledgement or resolution at ``at`` cancels: those not yet due."""
    return [step for step in steps if step.due > at]
