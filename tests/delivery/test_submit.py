"""Accept, then deliver: submit(), idempotency keys, notify() through the ledger, history."""

from __future__ import annotations

import json
import sqlite3

import pytest

from notifykit import Notifier
from notifykit.errors import NotificationError, RecipientError, TemplateError
from notifykit.report import DeliveryState
from tests.delivery.conftest import PHONES, write_config


def _rows(db, table: str) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


def test_submit_stores_the_notification_and_its_deliveries_and_sends_nothing(
    make_kit, sim, tmp_path
):
    kit = make_kit()
    submission = kit.submit("db.down", data={"host": "db1"}, to="oncall", channels=["sms", "call"])
    assert not submission.duplicate and len(submission.deliveries) == 4
    assert sim.requests == []  # accepted, not sent: the worker sends
    [report] = kit.history()
    assert report.id == submission.id and report.event == "db.down"
    assert [(d.channel, d.address, d.state) for d in report.deliveries] == [
        ("sms", PHONES[0], DeliveryState.PENDING),
        ("sms", PHONES[1], DeliveryState.PENDING),
        ("call", PHONES[0], DeliveryState.PENDING),
        ("call", PHONES[1], DeliveryState.PENDING),
    ]
    assert [d.id for d in report.deliveries] == list(submission.deliveries)
    # The ledger is the file named in the config, beside it.
    assert (tmp_path / "ledger.db").is_file() and _rows(tmp_path / "ledger.db", "deliveries") == 4


def test_a_second_submit_with_the_same_key_stores_nothing(make_kit, tmp_path):
    kit = make_kit()
    first = kit.submit("db.down", data={"host": "db1"}, key="db1-down")
    again = kit.submit("db.down", data={"host": "other"}, key="db1-down")
    assert again.duplicate and again.id == first.id and again.deliveries == first.deliveries
    assert _rows(tmp_path / "ledger.db", "notifications") == 1
    assert kit.history()[0].key == "db1-down"


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"to": "nobody"}, RecipientError),
        ({"to": "+91 12"}, RecipientError),
        ({"severity": "fatal"}, NotificationError),
        ({"channels": ["fax"]}, NotificationError),
        ({"template": "missing"}, TemplateError),
    ],
)
def test_caller_mistakes_raise_before_anything_is_stored(make_kit, tmp_path, kwargs, error):
    kit = make_kit()
    with pytest.raises(error):
        kit.submit("db.down", data={"host": "db1"}, **kwargs)
    assert kit.history() == []
    assert _rows(tmp_path / "ledger.db", "deliveries") == 0


def test_notify_goes_through_the_ledger_and_returns_what_it_recorded(make_kit, sim):
    kit = make_kit()
    report = kit.notify("db.down", data={"host": "db1"}, to="oncall")
    assert [d.state for d in report.deliveries] == [DeliveryState.SENT, DeliveryState.SENT]
    assert len(sim.requests) == 1  # two numbers, one bulk request
    stored = kit.report(report.id)
    assert [d.to_dict() for d in stored.deliveries] == [
        {**d.to_dict(), "updated": s.updated}
        for d, s in zip(report.deliveries, stored.deliveries, strict=True)
    ]
    assert all(d.attempts == 1 and d.provider_id for d in stored.deliveries)
    assert [a.outcome for d in stored.deliveries for a in d.attempt_log] == ["sent", "sent"]


def test_notify_with_a_key_already_sent_does_not_send_again(make_kit, sim):
    kit = make_kit()
    first = kit.notify("db.down", data={"host": "db1"}, key="incident-7")
    second = kit.notify("db.down", data={"host": "db1"}, key="incident-7")
    assert second.id == first.id and [d.state for d in second.deliveries] == ["sent"]
    assert len(sim.requests) == 1


def test_dry_runs_store_nothing_and_open_no_ledger(make_kit, sim, tmp_path):
    kit = make_kit(dry_run=True)
    report = kit.notify("db.down", data={"host": "db1"})
    assert report.dry_run and report.ok and [d.state for d in report.deliveries] == ["pending"]
    assert not (tmp_path / "ledger.db").exists() and sim.requests == []
    with pytest.raises(NotificationError, match="dry run stores nothing"):
        kit.submit("db.down", data={"host": "db1"})


def test_the_default_ledger_is_notifykit_db_beside_the_config(make_kit, sim, tmp_path):
    path = write_config(tmp_path, sim)
    text = path.read_text().replace("store: ledger.db\n", "")
    path.write_text(text)
    kit = make_kit(path)
    kit.submit("db.down", data={"host": "db1"})
    assert (tmp_path / "notifykit.db").is_file()


def test_a_mapping_config_without_store_keeps_its_ledger_in_memory(sim, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    config = {
        "accounts": {
            "main": {
                "provider": "exotel",
                "sid": "ACledger",
                "token": "t0ken-abcdef",
                "base_url": sim.base_url,
            }
        },
        "channels": {
            "sms": {
                "type": "exotel-sms",
                "account": "main",
                "senders": {"default": {"from": "NKALRT"}},
            }
        },
        "defaults": {"channels": ["sms"], "to": [PHONES[0]]},
    }
    with Notifier.from_config(config) as kit:
        submission = kit.submit("x")
        assert kit.store_location == ":memory:" and kit.history()[0].id == submission.id
    assert list(tmp_path.iterdir()) == []


def test_history_filters_by_state_and_limits(make_kit, sim):
    kit = make_kit()
    sent = kit.notify("db.down", data={"host": "a"})
    sim.inject(_fault(400))
    failed = kit.notify("db.down", data={"host": "b"})
    pending = kit.submit("db.down", data={"host": "c"})
    assert [r.id for r in kit.history()] == [pending.id, failed.id, sent.id]
    assert [r.id for r in kit.history(limit=1)] == [pending.id]
    assert [r.id for r in kit.history(state="failed")] == [failed.id]
    assert [r.id for r in kit.history(state=DeliveryState.PENDING)] == [pending.id]
    assert len(kit.history(limit=0)) == 3
    with pytest.raises(NotificationError, match="unknown delivery state 'sen'"):
        kit.history(state="sen")
    json.dumps([r.to_dict() for r in kit.history()])  # all JSON-ready


def _fault(status: int):
    from notifykit_exotel.simulator import Fault

    return Fault(status=status, code=40007, message="invalid To")
