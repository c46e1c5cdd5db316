"""The store contract of the audit trail (schema version 4, with what later versions add), on SQLite and PostgreSQL alike: a row
commits with the action of its unit of work or not at all; the trail reads back oldest first,
since a time, the newest ``limit``; no phone number is ever kept; an action or a path to come is a
new word, not a migration; a ledger of schema 3 is upgraded with its rows kept."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from notifykit.ledger import Ledger, open_ledger
from notifykit.ledger.audit import Acting, AuditRecord, mask_numbers
from notifykit.plan.planner import Plan
from notifykit.routing.alert import Alert

MakePlan = Callable[..., Plan]
OpenStore = Callable[..., Ledger]
T0 = 1_800_000_000.0


def _alert(host: str = "db1") -> Alert:
    return Alert("db.down", "critical", {"host": host}, {})


def _start(ledger: Ledger, host: str = "db1") -> str:
    a = _alert(host)
    with ledger.routing.unit() as unit:
        record = unit.start_escalation(
            "page", a.key_for(), "primary", ((0, 0, T0), (0, 1, T0 + 300)), a, T0
        )
    return record.id


def test_an_action_and_its_row_commit_together(open_store: OpenStore):
    one, two = open_store(), open_store()
    escalation = _start(one)
    with one.routing.unit() as unit:
        record = unit.escalation(escalation)
        assert record is not None
        [acked] = unit.stop_escalations([record], "acked", T0 + 60, "asha")
        written = unit.audit(
            "acknowledged",
            Acting("cli", "asha"),
            {"key": acked.key, "escalation": acked.id, "policy": "primary", "step": None},
            T0 + 60,
            "from the terminal",
        )
    # another process reads it back, typed
    [row] = two.routing.audit()
    assert (
        row
        == written
        == AuditRecord(
            T0 + 60,
            "acknowledged",
            "cli",
            "asha",
            {"key": "db.down{host=db1}", "escalation": escalation, "policy": "primary"},
            "from the terminal",
        )
    )
    assert row.to_dict() == {
        "at": "2027-01-15T08:01:00+00:00",
        "action": "acknowledged",
        "path": "cli",
        "actor": "asha",
        "target": {"key": "db.down{host=db1}", "escalation": escalation, "policy": "primary"},
        "detail": "from the terminal",
    }


def test_a_unit_rolled_back_keeps_no_row(ledger: Ledger):
    escalation = _start(ledger)

    def failing() -> None:
        with ledger.routing.unit() as unit:
            record = unit.escalation(escalation)
            assert record is not None
            unit.stop_escalations([record], "acked", T0 + 60, "asha")
            unit.audit("acknowledged", Acting("api", "asha"), {"escalation": escalation}, T0)
            raise RuntimeError("the action failed after its row was written")

    with pytest.raises(RuntimeError):
        failing()
    assert ledger.routing.audit() == []
    assert [e.state for e in ledger.routing.escalations()] == ["active"]


def test_the_trail_reads_oldest_first_since_a_time_newest_limit(ledger: Ledger):
    with ledger.routing.unit() as unit:
        for n in range(5):
            unit.audit("resolved", Acting("api"), {"key": f"k{n}"}, T0 + 10 * n)
    state = ledger.routing
    assert [r.target["key"] for r in state.audit()] == ["k0", "k1", "k2", "k3", "k4"]
    assert [r.target["key"] for r in state.audit(since=T0 + 20)] == ["k2", "k3", "k4"]
    assert [r.target["key"] for r in state.audit(limit=2)] == ["k3", "k4"]
    assert [r.target["key"] for r in state.audit(since=T0 + 10, limit=2)] == ["k3", "k4"]
    assert state.audit(since=T0 + 41) == []
    assert all(r.actor is None and r.detail is None for r in state.audit())


def test_no_phone_number_is_kept(ledger: Ledger):
    escalation = _start(ledger)
    with ledger.routing.unit() as unit:
        unit.audit(
            "acknowledged",
            Acting("link", "+919876543210 or p1"),
            {"key": "sms.in{from=+91 98765 43210}", "escalation": escalation},
            T0,
            "the ack link sent to 9876543210",
        )
    [row] = ledger.routing.audit()
    assert row.actor == "+********3210 or p1"
    assert row.target == {"key": "sms.in{from=+********3210}", "escalation": escalation}
    assert row.detail == "the ack link sent to ******3210"
    [raw], _c = ledger.routing._rows("reading", "SELECT actor, key_text, target, detail FROM audit")
    assert not any("98765" in str(value) for value in raw)


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("+919876543210", "+********3210"),
        ("09876543210", "*******3210"),
        ("+91 (98765) 43-210", "+********3210"),
        ("asha", "asha"),
        ("db.down{pct=95,port=5432}", "db.down{pct=95,port=5432}"),
        ("node1234567890", "node1234567890"),  # a word's digits, not a number
    ],
)
def test_mask_numbers(text: str, masked: str):
    assert mask_numbers(text) == masked


def test_new_actions_and_paths_need_no_schema_change(ledger: Ledger):
    with ledger.routing.unit() as unit:
        unit.audit("snoozed", Acting("keypress", "asha"), {"key": "db.down", "for": "30m"}, T0)
        unit.audit("overridden", Acting("web", "ravi"), {"schedule": "primary"}, T0 + 1)
    assert [(r.action, r.path, r.actor) for r in ledger.routing.audit()] == [
        ("snoozed", "keypress", "asha"),
        ("overridden", "web", "ravi"),
    ]
    with ledger.routing.unit() as unit, pytest.raises(ValueError, match="lowercase word"):
        unit.audit("Ack'd", Acting("api"), {}, T0)
    with pytest.raises(ValueError, match="an audit path is a lowercase word"):
        Acting("the CLI")


def test_the_deliveries_of_sent_steps(ledger: Ledger, make_plan: MakePlan):
    escalation = _start(ledger)
    with ledger.routing.unit() as unit:
        [first, second] = unit.due_steps(escalation, T0 + 300)
        stored = unit.store(make_plan(to=["alice", "+919876543219"]))
        unit.mark_step(first, "sent", stored.id)
        assert [s.index for s in unit.sent_steps(escalation)] == [0]
        found = unit.step_deliveries([stored.id])
        assert [(n, who, state) for n, who, _text, state in found] == [
            (stored.id, "alice", "pending"),
            (stored.id, "+919876543219", "pending"),
        ]
        assert all(text and "95%" in text for _n, _who, text, _state in found)
        assert unit.step_deliveries([stored.id], provider_id="no-such-id") == []
        assert unit.step_deliveries([]) == []
        assert second.index == 1


def test_a_schema_3_ledger_is_upgraded_with_its_rows_kept(location: str):
    from notifykit.ledger import migrations

    # A ledger at version 3 with an escalation in it: made at the newest version, then what
    # versions 4 to 12 added taken away again (the code writing the row is today's). Version
    # 12 rebuilds SQLite's notifications and attempts tables whatever form they have, and
    # changes nothing in PostgreSQL.
    old = open_ledger(location)
    escalation = _start(old)
    with old.routing.unit() as unit:
        for undo in (
            "DROP TABLE audit",
            "DROP TABLE probes",
            "ALTER TABLE escalations DROP COLUMN acked_via",
            "DROP INDEX deliveries_recipient",  # version 7 (paging limits)
            "DROP TABLE silences",  # version 6
            "DROP INDEX escalations_wake",
            "ALTER TABLE escalations DROP COLUMN wake_at",
            "DROP TABLE heartbeats",  # version 8 (heartbeats)
            "DROP TABLE circuits",  # version 11 (circuit breakers)
            "DROP TABLE oncall_overrides",  # version 10 (on-call overrides)
            "DROP INDEX deliveries_fallback_of",  # version 9 (failover)
            "ALTER TABLE deliveries DROP COLUMN fallback_of",
            "DROP INDEX deliveries_provider",  # partial since version 9: as version 1 made it
            "CREATE INDEX deliveries_provider ON deliveries (provider_id)",
            "DELETE FROM schema_migrations WHERE version > 3",
        ):
            unit._exec(undo, ())
    old.close()
    ledger = open_ledger(location)
    try:
        [row], c = ledger.routing._rows(
            "reading", "SELECT MAX(version) AS version FROM schema_migrations"
        )
        assert row[c.version] == len(migrations.MIGRATIONS)
        assert [e.id for e in ledger.routing.escalations()] == [escalation]
        with ledger.routing.unit() as unit:
            unit.audit("resolved", Acting("api"), {"escalation": escalation}, T0)
        assert len(ledger.routing.audit()) == 1
    finally:
        ledger.close()
