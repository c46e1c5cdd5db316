"""The escalation planner: the issue's timeline (SMS at 0, call at 5m, secondary at 10m), rounds,
a failed delivery that advances the schedule, and what acknowledgement cancels."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from notifykit.routing import EscalationPolicy, EscalationStep, Receiver, advance, plan
from notifykit.routing.escalation import cancel_after

T0 = datetime(2026, 5, 1, 10, 0, tzinfo=timezone.utc)
PRIMARY = EscalationPolicy(
    "primary",
    (
        EscalationStep(0, ("sms",), ("primary",)),
        EscalationStep(300, ("call",), ("primary",)),
        EscalationStep(600, ("call",), ("secondary",)),
    ),
    repeat=1,
    ack_on_answer=True,
)


def timeline(steps: list) -> list[tuple[float, int, int, tuple[str, ...], tuple[str, ...]]]:
    return [((s.due - T0).total_seconds(), s.loop, s.index, s.channels, s.to) for s in steps]


def test_the_issue_timeline_with_one_repeat() -> None:
    assert timeline(plan(PRIMARY, T0)) == [
        (0, 0, 0, ("sms",), ("primary",)),
        (300, 0, 1, ("call",), ("primary",)),
        (600, 0, 2, ("call",), ("secondary",)),
        # the rhythm continues: the next round starts 5m after the last step
        (900, 1, 0, ("sms",), ("primary",)),
        (1200, 1, 1, ("call",), ("primary",)),
        (1500, 1, 2, ("call",), ("secondary",)),
    ]
    assert [s.id for s in plan(PRIMARY, T0)][:4] == ["0.0", "0.1", "0.2", "1.0"]


def test_repeat_every_and_no_repeat() -> None:
    once = EscalationPolicy("p", PRIMARY.steps)
    assert len(plan(once, T0)) == 3
    hourly = EscalationPolicy("p", PRIMARY.steps, repeat=2, repeat_every=3600)
    assert [(s.due - T0).total_seconds() for s in plan(hourly, T0) if s.index == 0] == [
        0,
        3600,
        7200,
    ]


def test_acknowledged_at_3m_cancels_everything_not_yet_due() -> None:
    steps = plan(PRIMARY, T0)
    cancelled = cancel_after(steps, T0 + timedelta(minutes=3))
    assert [s.id for s in cancelled] == ["0.1", "0.2", "1.0", "1.1", "1.2"]


def test_a_failed_sms_brings_the_next_step_forward_keeping_the_gaps() -> None:
    steps = plan(PRIMARY, T0)
    pending = steps[1:]  # the SMS at t=0 went out; its delivery report says failed at t=1m
    moved = advance(pending, T0 + timedelta(minutes=1))
    assert [(s.id, (s.due - T0).total_seconds()) for s in moved] == [
        ("0.1", 60),
        ("0.2", 360),
        ("1.0", 660),
        ("1.1", 960),
        ("1.2", 1260),
    ]
    # Nothing moves later: a report arriving after the next step was due changes nothing.
    assert advance(pending, T0 + timedelta(minutes=9)) == pending
    assert advance([], T0) == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"steps": ()}, "has no steps"),
        (
            {"steps": (EscalationStep(300, ("sms",), ("a",)), EscalationStep(0, ("sms",), ("a",)))},
            "steps must be in order of 'after'",
        ),
        (
            {"steps": (EscalationStep(0, ("sms",), ("a",)),), "repeat": 1},
            "repeat_every must be longer",
        ),
        ({"steps": PRIMARY.steps, "repeat": 1, "repeat_every": 600}, "repeat_every must be longer"),
        ({"steps": PRIMARY.steps, "repeat": -1}, "repeat must be 0 or more"),
    ],
)
def test_policy_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        EscalationPolicy("p", **kwargs)


def test_plan_needs_an_aware_start_and_receivers_are_one_kind() -> None:
    with pytest.raises(ValueError, match="aware start"):
        plan(PRIMARY, datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="either escalation or channels"):
        Receiver("r", channels=("sms",), to=("a",), escalation="primary")
