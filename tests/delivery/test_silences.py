"""Silences end to end (issue 17), with the controllable clock, a real worker draining the
ledger and real HTTP to the simulator, on a SQLite file and on PostgreSQL: a silence made mutes
its alerts at every flush (they wait in their groups), and an alert still firing when the
silence ends, or is expired early, goes out at its group's next flush. Other alerts are not
touched; an escalation receiver starts no escalation while silenced; the audit trail says who
made and who expired it; ``explain`` and ``alerts`` say which silence mutes an alert."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from notifykit import Notifier
from notifykit.routing.silences import SilenceError
from notifykit_exotel.simulator import ExotelSimulator
from tests.delivery.conftest import PHONES, Clock, write_config
from tests.delivery.test_escalation import sends

ROUTING: dict[str, Any] = {
    "receivers": {
        "oncall-sms": {"channels": ["sms"], "to": ["p2"]},
        "page-primary": {"escalation": "primary"},
    },
    "route": {
        "receiver": "oncall-sms",
        "group_by": ["host"],
        "group_wait": "30s",
        "group_interval": "1m",
        "repeat_interval": "4h",
        "routes": [{"matchers": ['severity="critical"'], "receiver": "page-primary"}],
    },
    "escalations": {
        "primary": {
            "steps": [
                {"after": "0s", "channels": ["sms"], "to": ["p0"]},
                {"after": "5m", "channels": ["call"], "to": ["p1"]},
            ]
        }
    },
}

SMS0 = ("sms", PHONES[0])
SMS2 = ("sms", PHONES[2])


@pytest.fixture
def kit(
    make_kit: Callable[..., Notifier],
    sim: ExotelSimulator,
    tmp_path: Path,
    clock: Clock,
    store: str,
) -> Notifier:
    return make_kit(write_config(tmp_path, sim, store=store, **ROUTING), clock=clock)


def drain(kit: Notifier, clock: Clock) -> None:
    kit.worker(threads=1, poll=0.05, clock=clock).run(drain=True)


def fire(kit: Notifier, host: str = "db1", **labels: str) -> None:
    """Alertmanager's way: the alert is sent again while it fires (within resolve_timeout)."""
    kit.notify("db.down", labels={"service": "db", "host": host, **labels})


def test_a_silence_mutes_at_each_flush_and_the_alert_goes_out_at_the_flush_after_it_ends(
    kit, sim, clock
):
    made = kit.silence(['service="db"'], duration="10m", comment="db deploy", by="asha")
    assert made.created_by == "asha" and made.ends_at - made.starts_at == 600
    fire(kit)
    fire(kit, host="web1", service="web")  # another service: not silenced
    clock.advance(30)
    drain(kit, clock)
    assert sends(sim) == [SMS2]  # only web1's group went out
    [held] = [a for a in kit.alerts() if a.labels["host"] == "db1"]
    assert held.state == "held" and held.reason is not None
    assert (
        held.reason.startswith(f"silenced by {made.id} until ") and "asha: db deploy" in held.reason
    )
    for _ in range(9):  # flushes every minute while the silence lasts: each mutes it
        clock.advance(60)
        fire(kit)
        drain(kit, clock)
    assert sends(sim) == [SMS2]
    clock.advance(60)  # 10m30s: the silence ended; the group's next flush sends it
    drain(kit, clock)
    assert sends(sim) == [SMS2, SMS2]
    assert "db1" in sim.requests[-1].form["Body"][0]
    assert [s.id for s in kit.silences()] == []  # over: listed only with include_expired
    assert [s.id for s in kit.silences(include_expired=True)] == [made.id]


def test_expired_early_the_alert_goes_out_at_the_next_flush_and_the_audit_trail_says_who(
    kit, sim, clock
):
    made = kit.silence('{service="db", host=~"db.*"}', duration="2h", comment="maint", by="asha")
    fire(kit)
    clock.advance(30)
    drain(kit, clock)
    assert sends(sim) == []
    report = kit.notify("db.down", labels={"service": "db", "host": "db1"})
    assert report.deliveries == ()  # waits in its group, silenced
    expired = kit.expire_silence(made.id[:8], by="ravi")
    assert expired.id == made.id and expired.ends_at == clock() and expired.expired_by == "ravi"
    assert kit.expire_silence(made.id).ends_at == expired.ends_at  # again: nothing changes
    clock.advance(60)
    drain(kit, clock)
    assert sends(sim) == [SMS2]
    trail = [(r.action, r.actor, r.path, r.target.get("silence")) for r in kit.audit()]
    assert trail == [
        ("silence-created", "asha", "api", made.id),
        ("silence-expired", "ravi", "api", made.id),
    ]
    assert kit.audit()[0].target["matchers"] == 'service="db", host=~"db.*"'


def test_a_silenced_escalation_receiver_starts_no_escalation_until_the_silence_ends(
    kit, sim, clock
):
    made = kit.silence(['severity="critical"', "host=db1"], duration="5m", comment="known")
    report = kit.notify("db.down", severity="critical", labels={"host": "db1"})
    clock.advance(30)
    drain(kit, clock)
    assert sends(sim) == []
    assert kit.explain("db.down", severity="critical", labels={"host": "db1"}).silenced_by == made
    clock.advance(4 * 60)  # still silenced (the alert sent again, as Alertmanager does)
    kit.notify("db.down", severity="critical", labels={"host": "db1"})
    drain(kit, clock)
    assert sends(sim) == []
    clock.advance(60)  # ended: the next flush starts the escalation (its step 0 at once)
    drain(kit, clock)
    assert sends(sim) == [SMS0]
    assert report.key == "{host=db1}"  # the group's key (group_by: [host])


def test_a_silence_to_come_mutes_nothing_before_it_starts(kit, sim, clock):
    from datetime import datetime, timedelta, timezone

    start = datetime.fromtimestamp(clock(), timezone.utc) + timedelta(hours=1)
    made = kit.silence(
        'service="db"', starts_at=start, ends_at=start + timedelta(hours=1), comment="later"
    )
    assert made.state(clock()) == "pending" and kit.silences() == [made]
    fire(kit)
    clock.advance(30)
    drain(kit, clock)
    assert sends(sim) == [SMS2]


@pytest.mark.parametrize(
    ("matchers", "words"),
    [
        (["service"], ['no operator after the label name: write service="value"']),
        (["service==db"], ["'==' is not an operator: write '='"]),
        (['service=~".*"'], ["would mute every alert", "add at least one that needs a value"]),
        ([], ["a silence needs matchers"]),
    ],
)
def test_bad_matchers_are_refused_naming_the_problem_and_the_fix(kit, matchers, words):
    with pytest.raises(SilenceError) as raised:
        kit.silence(matchers, duration="1h", comment="x")
    for word in words:
        assert word in str(raised.value)
    assert kit.silences(include_expired=True) == []


def test_a_silence_needs_a_comment_and_an_end_after_now(kit):
    with pytest.raises(SilenceError, match="needs a comment"):
        kit.silence('service="db"', duration="1h", comment=" ")
    with pytest.raises(SilenceError, match="either duration"):
        kit.silence('service="db"', comment="x")
    with pytest.raises(SilenceError, match="not a positive duration"):
        kit.silence('service="db"', duration="soon", comment="x")
    with pytest.raises(SilenceError, match="no silence has the id"):
        kit.expire_silence("abcdef12")


def test_a_running_worker_process_honours_a_silence_until_it_ends_or_is_expired(
    make_kit, sim, tmp_path
):
    """Real time, a real `notifykit worker` process: an 8 s silence holds its alert back while
    another goes out; it goes out once the silence ends; one expired early goes out then."""

    from tests.delivery.test_workers_processes import WORKER, Workers

    routing = copy.deepcopy(ROUTING)
    routing["route"].update(group_wait="1s", group_interval="1s")
    config = write_config(tmp_path, sim, worker=WORKER, **routing)
    kit = make_kit(config)
    short = kit.silence('service="db"', duration=8, comment="restart")
    kit.silence('service="cache"', duration="1h", comment="migration")
    running = Workers(config, tmp_path)
    running.start("w1")
    try:
        _watch(kit, sim, short)
    finally:
        running.close()


def _watch(kit: Notifier, sim: ExotelSimulator, short: Any) -> None:
    import time

    from tests.delivery.conftest import wait_until

    # The simulator stamps requests with time.monotonic(): as wall-clock time here.
    offset = time.time() - time.monotonic()

    def sent(host: str) -> list[float]:
        return [
            r.time + offset
            for r in sim.requests
            if r.path.endswith("/Sms/send.json") and f"host={host}" in r.form["Body"][0]
        ]

    kit.notify("db.down", labels={"service": "db", "host": "a"})
    kit.notify("db.down", labels={"service": "web", "host": "b"})
    kit.notify("db.down", labels={"service": "cache", "host": "c"})
    wait_until(lambda: sent("b"), timeout=20)
    wait_until(lambda: sent("a"), timeout=20)
    [b], [a] = sent("b"), sent("a")
    assert b < short.ends_at <= a  # held back by the silence, sent by the flush after its end
    # Flushed every second meanwhile, muted: the cache alert waits for its silence.
    assert sent("c") == []
    [cache] = kit.ledger.routing.silences(ending_after=time.time())
    expired = kit.expire_silence(cache.id, by="ravi")
    wait_until(lambda: sent("c"), timeout=20)
    assert sent("c")[0] >= expired.ends_at
    assert len(sim.requests) == 3  # each once


def test_an_events_only_config_honours_silences_without_a_read_per_send(
    make_kit, sim, tmp_path, clock
):
    """Routes that keep no state have no later flush: a silenced alert is dropped, said in the
    report; the silences are read at most once a second, not once per send."""
    kit = make_kit(write_config(tmp_path, sim, store="ledger.db"), clock=clock)
    made = kit.silence("host=~db.*", duration="1h", comment="maint", by="asha")
    muted = kit.notify("db.down", data={"host": "x"}, labels={"host": "db1"})
    assert muted.deliveries == ()
    assert any(n.startswith("muted: ") and made.id in n for n in muted.notes), muted.notes
    statements: list[str] = []
    kit.ledger._db.set_trace_callback(statements.append)  # type: ignore[attr-defined]
    try:
        kit.notify("db.down", data={"host": "x"}, labels={"host": "db2"})
    finally:
        kit.ledger._db.set_trace_callback(None)  # type: ignore[attr-defined]
    assert not any("FROM silences" in s for s in statements)  # the cached read
    assert sim.requests == []
    kit.expire_silence(made.id)
    sent = kit.notify("db.down", data={"host": "x"}, labels={"host": "db1"})
    assert [d.state.value for d in sent.deliveries] == ["sent"]
