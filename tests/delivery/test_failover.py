"""Failover (issue 18, docs/failover.md) end to end: real HTTP to two Exotel simulators (the
primary account and a backup one), a real ledger on SQLite and PostgreSQL, ``notify()`` and a
real worker. A delivery that certainly was not sent for a reason on the provider's side goes to
the same person through the channel's fallback, once, and the ledger links the two; one that
failed because of the recipient, or that may have been sent, does not fall over."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from notifykit import DeliveryState, Notifier
from notifykit.errors import ConfigError
from notifykit_exotel.simulator import ExotelSimulator, Fault
from tests.delivery.conftest import (
    PHONES,
    TOKEN,
    Clock,
    exotel_account,
    free_port,
    write_config,
)

BACKUP_SID = "ACbackup"


@pytest.fixture
def backup() -> Iterator[ExotelSimulator]:
    with ExotelSimulator(sid=BACKUP_SID, token=TOKEN, rate_limit=100_000) as simulator:
        yield simulator


def failover_config(
    tmp_path: Path,
    sim: ExotelSimulator,
    backup: ExotelSimulator,
    *,
    primary_url: str | None = None,
    fallback: Any = ("sms-backup",),
    store: str = "ledger.db",
    **extra: Any,
) -> Path:
    """``sms`` on the main account (``primary_url``: somewhere else than ``sim``), falling
    back to ``sms-backup`` on another account, and a ``call`` falling back to ``sms``."""
    account = exotel_account(sim, base_url=primary_url or sim.base_url)
    channels: dict[str, Any] = {
        "sms": {
            "type": "exotel-sms",
            "account": "main",
            "senders": {"default": {"from": "NKALRT"}},
            "fallback": list(fallback),
            **extra.pop("sms", {}),
        },
        "sms-backup": {
            "type": "exotel-sms",
            "account": "backup",
            "senders": {"default": {"from": "NKALRT"}},
        },
        "call": {
            "type": "exotel-call",
            "account": "main",
            "caller_id": "08088919888",
            "connect_to": "+919800000000",
            "fallback": ["sms"],
        },
    }
    return write_config(
        tmp_path,
        sim,
        store=store,
        account=account,
        accounts={
            "main": account,
            "backup": exotel_account(backup, sid=BACKUP_SID),
        },
        channels=channels,
        **extra,
    )


def sms_to(simulator: ExotelSimulator) -> list[str]:
    return [
        n for r in simulator.requests if r.path.endswith("/Sms/send.json") for n in r.recipients
    ]


@pytest.fixture
def kit_for(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sim: ExotelSimulator, backup: ExotelSimulator
) -> Iterator[Callable[..., Notifier]]:
    monkeypatch.setenv("NK_LEDGER_TOKEN", TOKEN)
    built: list[Notifier] = []

    def make(clock: Clock | None = None, dry_run: bool = False, **options: Any) -> Notifier:
        config = failover_config(tmp_path, sim, backup, **options)
        kit = Notifier.from_config(config, clock=clock, dry_run=dry_run)
        built.append(kit)
        return kit

    yield make
    for kit in built:
        kit.close()


def refused_url() -> str:
    """A base URL nothing listens on: every connection is refused (never sent)."""
    return f"http://127.0.0.1:{free_port()}"


def test_a_refused_connection_falls_over_and_the_fallback_delivers_once(
    kit_for, sim, backup, store
):
    kit = kit_for(primary_url=refused_url(), store=store)
    report = kit.notify("db.down", severity="critical", data={"host": "db1"})
    primary, fallback = report.deliveries
    assert (primary.channel, primary.state) == ("sms", DeliveryState.FAILED)
    assert (fallback.channel, fallback.state) == ("sms-backup", DeliveryState.SENT)
    assert fallback.fallback_of == primary.id
    assert fallback.recipient == primary.recipient == "p0"
    assert sms_to(backup) == [PHONES[0]]
    assert report.ok, "the person was reached through the fallback"
    assert report.failed == []
    # The ledger holds the same, linked: history shows which hop delivered.
    stored = kit.history(limit=1)[0]
    by_channel = {d.channel: d for d in stored.deliveries}
    assert by_channel["sms-backup"].state is DeliveryState.SENT
    assert by_channel["sms-backup"].fallback_of == by_channel["sms"].id
    assert stored.ok


@pytest.mark.parametrize(
    "refusal",
    [
        pytest.param(lambda sim: sim.revoke_credentials(), id="401-credentials"),
        pytest.param(lambda sim: sim.set_kyc_pending(), id="403-kyc"),
        pytest.param(
            lambda sim: sim.inject(
                Fault(status=403, code=40001, message="Insufficient balance to send the SMS")
            ),
            id="403-balance",
        ),
        pytest.param(
            lambda sim: sim.inject(Fault(status=403, code=40002, message="Account is not active")),
            id="403-inactive",
        ),
        pytest.param(lambda sim: sim.inject(Fault(status=402)), id="402-payment"),
    ],
)
def test_the_account_refused_falls_over_at_once_and_the_fallback_delivers_once(
    kit_for, sim, backup, refusal, store
):
    kit = kit_for(store=store)
    refusal(sim)
    report = kit.notify("db.down", severity="critical", data={"host": "db1"})
    primary, fallback = report.deliveries
    assert primary.state is DeliveryState.FAILED
    assert (fallback.state, fallback.fallback_of) == (DeliveryState.SENT, primary.id)
    assert sms_to(backup) == [PHONES[0]]
    assert report.ok
    # Nothing more goes out later: the worker finds nothing to send.
    kit.worker(threads=1, poll=0.05).run(drain=True)
    assert sms_to(backup) == [PHONES[0]]


def test_a_fallback_that_is_not_needed_waits_as_a_standby_and_is_never_sent(
    kit_for, sim, backup, store
):
    kit = kit_for(store=store)
    report = kit.notify("db.down", severity="critical", data={"host": "db1"})
    primary, standby = report.deliveries
    assert primary.state is DeliveryState.SENT
    assert standby.state is DeliveryState.SKIPPED and standby.standby
    assert standby.error is not None and standby.error.startswith("standby: ")
    assert report.ok and report.failed == []
    assert sms_to(sim) == [PHONES[0]] and sms_to(backup) == []
    assert kit.worker(threads=1).run(drain=True).counts == {}  # nothing left to send
    assert sms_to(backup) == []
    [stored] = kit.history(limit=1)
    assert [d.state for d in stored.deliveries] == [DeliveryState.SENT, DeliveryState.SKIPPED]


def test_a_failure_that_lies_with_the_recipient_does_not_fall_over(kit_for, sim, backup):
    kit = kit_for()
    # Exotel refusing the number itself (HTTP 400): the backup would refuse it too.
    sim.inject(Fault(status=400, code=40203, message="Invalid Recipient [9876543210]"))
    report = kit.notify("db.down", severity="critical", data={"host": "db1"})
    primary, standby = report.deliveries
    assert primary.state is DeliveryState.FAILED
    assert standby.standby
    assert sms_to(backup) == []
    assert not report.ok


def test_an_unknown_outcome_never_falls_over(kit_for, sim, backup):
    kit = kit_for()
    sim.inject(Fault(drop=True))  # the request reached the simulator, the answer never came
    report = kit.notify("db.down", severity="critical", data={"host": "db1"})
    primary, standby = report.deliveries
    assert primary.state is DeliveryState.UNKNOWN
    assert standby.standby
    assert sms_to(backup) == []


def test_fallback_on_unknown_opts_in_to_paging_twice(kit_for, sim, backup):
    kit = kit_for(sms={"fallback_on_unknown": True})
    sim.inject(Fault(drop=True))
    report = kit.notify("db.down", severity="critical", data={"host": "db1"})
    primary, fallback = report.deliveries
    assert primary.state is DeliveryState.UNKNOWN
    assert fallback.state is DeliveryState.SENT
    assert sms_to(backup) == [PHONES[0]]


def test_the_chain_goes_on_while_each_hop_certainly_fails(sim, backup, tmp_path, monkeypatch):
    # sms (refused) -> sms-backup (refused too: 503 before processing) -> call (main account,
    # which answers calls): each hop the fallback of the one before it.
    config = failover_config(tmp_path, sim, backup, primary_url=refused_url())
    text = config.read_text(encoding="utf-8").replace(
        "  sms-backup:\n    type: exotel-sms\n    account: backup\n",
        "  sms-backup:\n    type: exotel-sms\n    account: backup\n    fallback:\n    - voice\n",
    )
    text = text.replace(
        "  call:\n",
        "  voice:\n    type: exotel-call\n    account: backup\n    caller_id: '08088919888'\n"
        "    connect_to: '+919800000000'\n  call:\n",
    )
    config.write_text(text, encoding="utf-8")
    monkeypatch.setenv("NK_LEDGER_TOKEN", TOKEN)
    backup.inject(Fault(status=503), times=1)  # the backup's SMS is throttled: not sent
    with Notifier.from_config(config) as kit:
        report = kit.notify("db.down", severity="critical", data={"host": "db1"})
    states = [(d.channel, d.state) for d in report.deliveries]
    assert states == [
        ("sms", DeliveryState.FAILED),
        ("sms-backup", DeliveryState.FAILED),
        ("voice", DeliveryState.SENT),
    ]
    sms, sms_backup, voice = report.deliveries
    assert (sms_backup.fallback_of, voice.fallback_of) == (sms.id, sms_backup.id)
    calls = [r for r in backup.requests if r.path.endswith("/Calls/connect.json")]
    assert [r.form["From"][0] for r in calls] == [PHONES[0]]
    assert report.ok


def test_a_worker_falls_over_once_the_retry_deadline_has_passed(kit_for, sim, backup, store):
    clock = Clock()
    kit = kit_for(
        clock=clock,
        primary_url=refused_url(),
        store=store,
        retry={"initial": "1s", "max": "1s", "deadline": "3s"},
    )
    submission = kit.submit("db.down", severity="critical", data={"host": "db1"})
    worker = kit.worker(threads=1, poll=0.05, clock=clock)
    worker.run(drain=True)
    # Refused: retried (pending), not yet handed over while the deadline runs.
    report = kit.report(submission.id)
    assert report.deliveries[0].state is DeliveryState.PENDING
    assert report.deliveries[1].standby
    assert sms_to(backup) == []
    for _ in range(5):
        clock.advance(1.5)
        kit.worker(threads=1, poll=0.05, clock=clock).run(drain=True)
    report = kit.report(submission.id)
    primary, fallback = report.deliveries
    assert primary.state is DeliveryState.FAILED
    assert "retry deadline passed" in (primary.error or "")
    assert fallback.state is DeliveryState.SENT and fallback.fallback_of == primary.id
    assert sms_to(backup) == [PHONES[0]]
    assert report.ok


def test_a_call_falls_back_to_sms_unless_the_person_gets_that_sms_anyway(
    kit_for, sim, backup, tmp_path
):
    kit = kit_for()
    sim.inject(Fault(status=503, path="Calls/connect"))
    report = kit.notify("db.down", severity="critical", data={"host": "db1"}, channels=["call"])
    # call -> sms -> sms's own fallback, sms-backup, standing by behind it
    call, sms, sms_backup = report.deliveries
    assert (call.state, sms.channel, sms.state) == (
        DeliveryState.FAILED,
        "sms",
        DeliveryState.SENT,
    )
    assert sms.fallback_of == call.id
    assert sms_backup.standby and sms_backup.fallback_of == sms.id
    assert sms_to(sim) == [PHONES[0]]
    # The same notification through both: no second SMS stands by for the call.
    both = kit.notify(
        "db.down", severity="critical", data={"host": "db1"}, channels=["call", "sms"]
    )
    assert [d.channel for d in both.deliveries] == ["call", "sms", "sms-backup"]
    assert both.deliveries[2].fallback_of == both.deliveries[1].id  # the SMS's own chain


def test_a_dry_run_shows_the_chain(kit_for):
    kit = kit_for(dry_run=True)
    report = kit.notify("db.down", severity="critical", data={"host": "db1"})
    primary, standby = report.deliveries
    assert primary.state is DeliveryState.PENDING
    assert standby.standby and standby.fallback_of == primary.id
    assert "sent only if sms to p0 certainly fails" in (standby.error or "")
    assert report.ok


@pytest.mark.parametrize(
    ("fallback", "expected"),
    [
        (
            ["sms-bakup"],
            "channels.sms.fallback[0]: no channel named 'sms-bakup' in channels (did you mean 'sms-backup'?)",
        ),
        (["sms"], "channels.sms.fallback: channel 'sms' names itself as its fallback"),
    ],
)
def test_config_problems_name_the_key_and_the_fix(
    fallback, expected, tmp_path, sim, backup, monkeypatch
):
    monkeypatch.setenv("NK_LEDGER_TOKEN", TOKEN)
    config = failover_config(tmp_path, sim, backup, fallback=fallback)
    with pytest.raises(ConfigError) as err:
        Notifier.from_config(config)
    assert expected in str(err.value)


@pytest.mark.parametrize("backup_refuses", [False, True])
def test_an_escalation_step_that_failed_over_escalates_only_when_its_chain_failed(
    kit_for, sim, backup, backup_refuses
):
    from tests.delivery.test_escalation import ROUTING

    clock = Clock()
    kit = kit_for(clock=clock, primary_url=refused_url(), **ROUTING)
    if backup_refuses:
        backup.inject(Fault(status=503), times=1)  # throttled: certainly not sent either
    report = kit.notify("db.down", severity="critical", data={"host": "db1"})
    assert [(d.channel, d.state) for d in report.deliveries] == [
        ("sms", DeliveryState.FAILED),
        ("sms-backup", DeliveryState.FAILED if backup_refuses else DeliveryState.SENT),
    ]
    [alert] = kit.alerts()
    assert alert.escalation is not None and alert.escalation.next_step == "0.1"
    assert alert.escalation.next_at is not None
    if backup_refuses:
        # Nobody reached: the next step (the call) is due now, not in 5 minutes.
        assert alert.escalation.next_at <= clock()
    else:
        # The person was reached through the fallback: the call keeps its time.
        assert alert.escalation.next_at == pytest.approx(clock() + 300, abs=1)


def test_routes_test_shows_where_a_delivery_would_fall_over(kit_for):
    kit = kit_for()
    explained = kit.explain("db.down", severity="critical")
    [sms] = explained.deliveries
    assert sms["fallback"] == ["sms-backup"]
    assert "sms to p0 from NKALRT (receiver defaults), falling over to sms-backup" in (
        explained.text()
    )


def test_a_celery_task_sends_the_fallback_its_delivery_made_due(kit_for, sim, backup, store):
    from notifykit.celery import deliver_ids

    kit = kit_for(store=store)
    sim.revoke_credentials()  # 401: the account refused, at once
    submission = kit.submit("db.down", severity="critical", data={"host": "db1"})
    primary_id, standby_id = submission.deliveries
    # What the Celery task does with the ids beat enqueued (the standby is not among the due).
    counts = deliver_ids(kit.runtime, [primary_id], "celery-queue:q1", "celery:task1")
    assert counts == {"failed": 1, "sent": 1}
    report = kit.report(submission.id)
    assert [(d.id, d.state) for d in report.deliveries] == [
        (primary_id, DeliveryState.FAILED),
        (standby_id, DeliveryState.SENT),
    ]
    assert sms_to(backup) == [PHONES[0]]


def test_each_hand_over_is_counted_in_the_metrics(kit_for, sim):
    from prometheus_client.exposition import generate_latest
    from prometheus_client.parser import text_string_to_metric_families

    kit = kit_for(primary_url=refused_url())
    registry = kit.start_metrics()
    kit.notify("db.down", severity="critical", data={"host": "db1"})
    kit.notify("db.down", severity="critical", data={"host": "db2"})
    text = generate_latest(registry).decode()
    [family] = [f for f in text_string_to_metric_families(text) if f.name == "notifykit_failovers"]
    [sample] = [s for s in family.samples if s.name == "notifykit_failovers_total"]
    assert sample.labels == {"channel": "sms", "fallback": "sms-backup"}
    assert sample.value == 2


def test_a_receiver_or_an_escalation_step_names_its_own_alternatives(kit_for, sim, backup):
    routing = {
        "receivers": {
            # this receiver's SMS tries the call first, then sms-backup
            "ops": {"channels": ["sms"], "to": ["p1"], "fallback": ["call", "sms-backup"]},
            # no fallback at all for this one, whatever the channel says
            "quiet": {"channels": ["sms"], "to": ["p2"], "fallback": []},
            "pager": {"escalation": "primary"},
        },
        "route": {
            "receiver": "ops",
            "routes": [
                {"matchers": ['event="quiet"'], "receiver": "quiet"},
                {"matchers": ['severity="critical"'], "receiver": "pager"},
            ],
        },
        "escalations": {
            "primary": {
                "steps": [
                    {"after": "0s", "channels": ["sms"], "to": ["p0"], "fallback": "call"},
                    {"after": "5m", "channels": ["sms"], "to": ["p1"]},
                ]
            }
        },
    }
    kit = kit_for(primary_url=refused_url(), **routing)
    # The main account refuses SMS and calls alike; the chain is visible before anything goes.
    explained = kit.explain("disk.full", severity="warning")
    assert [d.get("fallback") for d in explained.deliveries] == [["call", "sms-backup"]]
    steps = kit.explain("db.down", severity="critical").deliveries
    assert [d.get("fallback") for d in steps] == [["call"], ["sms-backup"]]
    assert kit.explain("quiet", severity="warning").deliveries[0].get("fallback") is None

    report = kit.notify("disk.full", severity="warning", data={"host": "db1"})
    # sms (refused) -> call (refused too: the same account) -> sms-backup
    assert [(d.channel, d.state) for d in report.deliveries] == [
        ("sms", DeliveryState.FAILED),
        ("call", DeliveryState.FAILED),
        ("sms-backup", DeliveryState.SENT),
    ]
    assert sms_to(backup) == [PHONES[1]]

    quiet = kit.notify("quiet", severity="warning", data={"host": "db1"})
    assert [(d.channel, d.state) for d in quiet.deliveries] == [("sms", DeliveryState.FAILED)]
    assert sms_to(backup) == [PHONES[1]]

    # The escalation's first step names only the call: no sms-backup stands by for it.
    paged = kit.notify("db.down", severity="critical", data={"host": "db1"})
    assert [(d.channel, d.state) for d in paged.deliveries] == [
        ("sms", DeliveryState.FAILED),
        ("call", DeliveryState.FAILED),
    ]
    assert paged.deliveries[1].fallback_of == paged.deliveries[0].id
    assert sms_to(backup) == [PHONES[1]]


def test_a_fallback_of_a_receiver_must_name_a_channel_with_the_templates_variant(
    tmp_path, sim, backup, monkeypatch
):
    monkeypatch.setenv("NK_LEDGER_TOKEN", TOKEN)
    config = failover_config(
        tmp_path,
        sim,
        backup,
        receivers={"ops": {"channels": ["sms"], "to": ["p0"], "fallback": ["cal"]}},
        route={"receiver": "ops"},
    )
    with pytest.raises(ConfigError) as err:
        Notifier.from_config(config)
    assert (
        "receivers.ops.fallback[0]: no channel named 'cal' in channels (did you mean 'call'?)"
        in (str(err.value))
    )


def test_counts_and_history_say_standby_not_skipped(kit_for, sim):
    kit = kit_for()
    report = kit.notify("db.down", severity="critical", data={"host": "db1"})
    assert report.by_state() == {"sent": 1, "standby": 1}
    assert report.summary() == "db.down (critical): 2 deliveries, 1 sent, 1 standby"
    [stored] = kit.history(limit=1)
    assert stored.by_state() == {"sent": 1, "standby": 1}
