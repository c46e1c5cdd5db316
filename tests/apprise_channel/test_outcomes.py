"""What Apprise's answer becomes, over real HTTP to a local receiver: a service that accepts is
``sent``; one that certainly did not get the message (a 4xx, a refused connection, a host name
that does not resolve) is ``failed``; one that may have (a 5xx, no answer in time, a plugin
that failed after a first request) is ``unknown``, never ``failed``, and never sent again."""

from __future__ import annotations

import pytest

from notifykit.model import DeliveryState
from tests.apprise_channel.conftest import TOKEN, closed_port, write_config

SENT, FAILED, UNKNOWN = DeliveryState.SENT, DeliveryState.FAILED, DeliveryState.UNKNOWN


def only(report):
    [delivery] = report.deliveries
    return delivery


def test_a_service_that_accepts_is_sent_with_title_type_and_body(make_kit, receiver):
    kit = make_kit()
    report = kit.send("push", to="alice", body="db1 is down", severity="critical", event="db.down")
    delivery = only(report)
    assert delivery.state is SENT and delivery.error is None
    assert delivery.info["services"] == "JSON"
    [received] = receiver.wait_for(1)
    assert received.path == f"/alice/{TOKEN}"
    assert (received.title, received.body, received.type) == (
        "db.down (critical)",
        "db1 is down",
        "failure",
    )


@pytest.mark.parametrize(
    ("severity", "kind"),
    [("info", "info"), ("warning", "warning"), ("error", "failure"), ("critical", "failure")],
)
def test_the_apprise_type_follows_the_severity(make_kit, receiver, severity, kind):
    make_kit().send("push", to="alice", body="x", severity=severity)
    assert receiver.wait_for(1)[0].type == kind


def test_the_title_is_the_channels(make_kit, receiver, tmp_path):
    channels = {
        "push": {"type": "apprise", "account": "ap", "title": "[{severity}] {event} on {{db}}"},
    }
    kit = make_kit(write_config(tmp_path, channels=channels))
    kit.send("push", to="alice", body="x", event="db.down", severity="error")
    assert [r.title for r in receiver.wait_for(1)] == ["[error] db.down on {db}"]


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413])
def test_a_4xx_is_failed_for_good(make_kit, receiver, status):
    receiver.answer("/alice", status=status)
    delivery = only(make_kit().send("push", to="alice", body="x"))
    assert delivery.state is FAILED
    assert delivery.error == f"JSON: the service refused it: HTTP {status} (not sent)"
    assert delivery.attempts == 1  # a refusal is not retried


def test_a_429_is_failed(make_kit, receiver):
    receiver.answer("/alice", status=429)
    delivery = only(make_kit().send("push", to="alice", body="x"))
    # notify() retries nothing itself: a transient failure is final there (a worker retries it,
    # see test_a_worker_retries_what_certainly_did_not_go_out)
    assert delivery.state is FAILED
    assert delivery.error == "JSON: the service refused it: HTTP 429 (not sent)"


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_a_5xx_is_unknown_never_failed(make_kit, receiver, status):
    receiver.answer("/alice", status=status)
    delivery = only(make_kit().send("push", to="alice", body="x"))
    assert delivery.state is UNKNOWN
    assert delivery.error == (
        f"JSON: the service answered HTTP {status}: it may have accepted the message before failing"
    )
    assert len(receiver.received) == 1  # and not sent again


def test_no_answer_in_time_is_unknown(make_kit, receiver, tmp_path):
    receiver.answer("/alice", delay=3)
    kit = make_kit(write_config(tmp_path, account={"timeout": "0.3s"}))
    delivery = only(kit.send("push", to="alice", body="x"))
    assert delivery.state is UNKNOWN
    assert delivery.error == "JSON: the service did not answer in time: it may have received it"
    assert len(receiver.wait_for(1)) == 1


def test_a_refused_connection_is_failed(make_kit, monkeypatch):
    monkeypatch.setenv("NK_APPRISE_ALICE", f"json://127.0.0.1:{closed_port()}/alice/{TOKEN}")
    delivery = only(make_kit().send("push", to="alice", body="x"))
    assert delivery.state is FAILED
    assert delivery.error == "JSON: the connection was refused (not sent)"


def test_a_host_that_does_not_resolve_is_failed(make_kit, monkeypatch):
    monkeypatch.setenv("NK_APPRISE_ALICE", f"json://no-such-host.invalid/alice/{TOKEN}")
    delivery = only(make_kit().send("push", to="alice", body="x"))
    assert delivery.state is FAILED
    assert delivery.error == "JSON: its host name did not resolve (not sent)"


def test_a_plugin_that_fails_after_a_first_request_is_unknown(make_kit, receiver, monkeypatch):
    # ntfy:// with two topics makes two requests: the first accepted, the second refused
    monkeypatch.setenv("NK_APPRISE_ALICE", f"ntfy://127.0.0.1:{receiver.port}/one/two")
    receiver.answer("/", status=200, times=1)
    receiver.answer("/", status=400)
    delivery = only(make_kit().send("push", to="alice", body="x"))
    assert delivery.state is UNKNOWN
    assert delivery.error == (
        "ntfy: the service accepted 1 of its requests, then one failed: it may have been "
        "delivered in part"
    )
    assert [r.status for r in receiver.wait_for(2)] == [200, 400]


def test_a_refusal_after_a_request_that_got_no_answer_is_unknown(
    make_kit, receiver, monkeypatch, tmp_path
):
    # two requests: the first unanswered in time (it may have been received), the second
    # refused; the refusal does not make it "not sent"
    monkeypatch.setenv("NK_APPRISE_ALICE", f"ntfy://127.0.0.1:{receiver.port}/one/two")
    receiver.answer("/", delay=2, times=1)
    receiver.answer("/", status=400)
    kit = make_kit(write_config(tmp_path, account={"timeout": "0.3s"}))
    delivery = only(kit.send("push", to="alice", body="x"))
    assert delivery.state is UNKNOWN
    assert delivery.error == "ntfy: the service did not answer in time: it may have received it"
    assert len(receiver.wait_for(2)) == 2


def test_a_target_of_several_urls_is_sent_when_one_service_accepts(
    make_kit, receiver, urls, monkeypatch, tmp_path
):
    monkeypatch.setenv("NK_APPRISE_DOWN", f"json://127.0.0.1:{receiver.port}/down/{TOKEN}")
    receiver.answer("/down", status=400)
    account = {
        "targets": {"alice": {"urls": ["${NK_APPRISE_DOWN}", "${NK_APPRISE_ALICE}"]}},
    }
    kit = make_kit(write_config(tmp_path, account=account))
    delivery = only(kit.send("push", to="alice", body="x"))
    assert delivery.state is SENT and delivery.provider_status == "accepted in part"
    assert delivery.info["services"] == "JSON, JSON"
    assert delivery.info["not_sent"] == (
        "url 1 of 2 (JSON): the service refused it: HTTP 400 (not sent)"
    )
    assert [r.path for r in receiver.wait_for(2)] == [f"/down/{TOKEN}", f"/alice/{TOKEN}"]


def test_a_target_none_of_whose_urls_can_have_it_is_failed(
    make_kit, receiver, monkeypatch, tmp_path
):
    monkeypatch.setenv("NK_APPRISE_DOWN", f"json://127.0.0.1:{receiver.port}/down/{TOKEN}")
    monkeypatch.setenv("NK_APPRISE_GONE", f"json://127.0.0.1:{closed_port()}/gone/{TOKEN}")
    receiver.answer("/down", status=403)
    account = {"targets": {"alice": {"urls": ["${NK_APPRISE_DOWN}", "${NK_APPRISE_GONE}"]}}}
    kit = make_kit(write_config(tmp_path, account=account))
    delivery = only(kit.send("push", to="alice", body="x"))
    # one refusal and one refused connection: nothing went out
    assert delivery.state is FAILED
    assert delivery.error == (
        "url 1 of 2 (JSON): the service refused it: HTTP 403 (not sent); "
        "url 2 of 2 (JSON): the connection was refused (not sent)"
    )


def test_a_target_one_of_whose_urls_may_have_it_is_unknown(
    make_kit, receiver, monkeypatch, tmp_path
):
    monkeypatch.setenv("NK_APPRISE_DOWN", f"json://127.0.0.1:{receiver.port}/down/{TOKEN}")
    monkeypatch.setenv("NK_APPRISE_SICK", f"json://127.0.0.1:{receiver.port}/sick/{TOKEN}")
    receiver.answer("/down", status=404)
    receiver.answer("/sick", status=502)
    account = {"targets": {"alice": {"urls": ["${NK_APPRISE_DOWN}", "${NK_APPRISE_SICK}"]}}}
    delivery = only(
        make_kit(write_config(tmp_path, account=account)).send("push", to="alice", body="x")
    )
    assert delivery.state is UNKNOWN
    assert "url 2 of 2 (JSON): the service answered HTTP 502" in delivery.error


def test_one_request_per_recipient_each_to_its_own_target(make_kit, receiver):
    report = make_kit().send("push", to=["alice", "bob", "ops-room"], body="x")
    assert [d.state for d in report.deliveries] == [SENT, SENT, SENT]
    assert sorted(r.path for r in receiver.wait_for(3)) == [
        f"/alice/{TOKEN}",
        f"/bob/{TOKEN}",
        f"/ops/{TOKEN}",
    ]


def test_a_recipient_without_an_apprise_address_is_skipped(make_kit, receiver):
    report = make_kit().send("push", to=["dave", "+919876543212"], body="x")
    assert [(d.state, d.error) for d in report.deliveries] == [
        (DeliveryState.SKIPPED, "no apprise address for dave"),
        (DeliveryState.SKIPPED, "no apprise address for +919876543212"),
    ]
    assert receiver.received == []


def test_a_target_the_account_does_not_have_is_failed(make_kit, receiver, tmp_path):
    recipients = {"erin": {"addresses": {"apprise": "erin"}}}
    kit = make_kit(write_config(tmp_path, recipients=recipients, defaults={"to": ["erin"]}))
    delivery = only(kit.send("push", to="erin", body="x"))
    assert delivery.state is FAILED
    assert delivery.error == "no Apprise target 'erin' (targets: alice, bob, ops) (not sent)"
    assert receiver.received == []


def test_an_empty_text_stops_the_notification_before_anything_is_sent(make_kit, receiver):
    from notifykit.errors import TemplateError

    with pytest.raises(TemplateError, match="nothing to send"):
        make_kit().send("push", to="alice", body="  ")
    assert receiver.received == []


@pytest.mark.parametrize(
    ("answer", "transient"),
    [({"status": 429}, True), ({"status": 400}, False), ("refused", True)],
)
def test_a_worker_retries_what_certainly_did_not_go_out(
    make_kit, receiver, monkeypatch, answer, transient
):
    from tests.delivery.conftest import Clock

    if answer == "refused":
        monkeypatch.setenv("NK_APPRISE_ALICE", f"json://127.0.0.1:{closed_port()}/a/{TOKEN}")
    else:
        receiver.answer("/alice", **answer)
    clock = Clock()
    kit = make_kit(clock=clock)
    submission = kit.submit("db.down", to="alice", channels="push", severity="critical")
    kit.worker(threads=1, poll=0.05, clock=clock).run(drain=True)
    [delivery] = kit.report(submission.id).deliveries
    assert delivery.attempts == 1
    # transient: rescheduled for a later attempt; a refusal (400): failed at once
    assert delivery.state is (DeliveryState.PENDING if transient else FAILED)


def test_a_stopped_send_starts_nothing_and_gives_the_deliveries_back(make_kit, receiver):
    from notifykit.channels.stop import SendStop, stopping_on

    stop = SendStop()
    stop.stop("SIGTERM")
    with stopping_on(stop):
        report = make_kit().send("push", to=["alice", "bob"], body="x")
    assert [d.state for d in report.deliveries] == [DeliveryState.PENDING] * 2
    assert [d.error for d in report.deliveries] == [
        "not sent: stopped (SIGTERM) before its request went out"
    ] * 2
    assert receiver.received == []


def test_a_send_stopped_between_recipients_finishes_the_request_in_flight(make_kit, receiver):
    import threading

    from notifykit.channels.stop import SendStop, stopping_on

    receiver.answer("/alice", delay=0.5)
    stop = SendStop(abandonable=False)

    def stop_once_alices_request_arrived() -> None:
        receiver.wait_for(1)
        stop.stop("SIGTERM")

    stopper = threading.Thread(target=stop_once_alices_request_arrived)
    stopper.start()
    with stopping_on(stop):
        report = make_kit().send("push", to=["alice", "bob"], body="x")
    stopper.join()
    assert [(d.recipient, d.state) for d in report.deliveries] == [
        ("alice", SENT),
        ("bob", DeliveryState.PENDING),
    ]
    assert report.deliveries[1].error == "not sent: stopped (SIGTERM)"
    assert [r.path for r in receiver.received] == [f"/alice/{TOKEN}"]
