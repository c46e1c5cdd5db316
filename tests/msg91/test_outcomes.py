"""Every answer the fake MSG91 can give (and every way it can fail to), through ``notify()`` and
through the worker with a real SQLite ledger: the delivery's state, the words of its error (the
fix named), how many requests MSG91 got, and that a request that may have reached MSG91 is never
sent again."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from notifykit import Notifier
from notifykit.report import DeliveryState
from notifykit_msg91.fake import FakeMsg91, Fault, closed_url
from tests.msg91.conftest import write_config
from tests.plugin_support import Clock

# (id, fault, state after notify(), info["cause"], words its error has)
ONCE: list[tuple[str, Fault | None, str, str | None, str | None]] = [
    ("accepted", None, "sent", None, None),
    (
        "401",
        Fault("unauthorized"),
        "failed",
        "account",
        "refused it (code 207: Invalid authentication key): check the account's authkey "
        "against MSG91's panel",
    ),
    ("ip-whitelist", Fault("ip"), "failed", "account", "IP whitelist in MSG91's panel"),
    ("balance", Fault("balance"), "failed", "account", "top up the SMS balance"),
    ("template", Fault("template"), "failed", "template", "check the template's dlt_template_id"),
    ("number", Fault("number"), "failed", "recipient", "check the recipient's phone number"),
    ("429", Fault("throttled"), "failed", "throttled", "not sent: "),
    ("500", Fault("server"), "unknown", "unknown", "answered HTTP 500"),
    ("slow", Fault("slow", delay=1.5), "unknown", "unknown", "did not answer within 1s"),
    ("dropped", Fault("drop"), "unknown", "unknown", "failed after the request"),
]


@pytest.mark.parametrize(
    ("fault", "state", "cause", "words"), [pytest.param(*row[1:], id=row[0]) for row in ONCE]
)
def test_notify(
    make_kit: Callable[..., Notifier],
    fake: FakeMsg91,
    tmp_path: Path,
    fault: Fault | None,
    state: str,
    cause: str | None,
    words: str | None,
) -> None:
    kit = make_kit(write_config(tmp_path, fake.base_url))
    if fault is not None:
        fake.inject(fault)
    [delivery] = kit.notify("db.down", data={"host": "db1"}).deliveries
    assert delivery.state.value == state, delivery.error
    assert len(fake.requests) == 1  # notify() sends once, whatever happens
    if words is not None:
        assert words in (delivery.error or ""), delivery.error
    if cause is not None:
        assert delivery.info["cause"] == cause
    if state == "unknown":
        assert "it may have been sent; not sent again" in (delivery.error or "")


def test_notify_when_the_connection_is_refused(
    make_kit: Callable[..., Notifier], tmp_path: Path
) -> None:
    kit = make_kit(write_config(tmp_path, closed_url()))
    [delivery] = kit.notify("db.down", data={"host": "db1"}).deliveries
    assert delivery.state is DeliveryState.FAILED
    assert "not sent: could not connect to MSG91 (account m91)" in (delivery.error or "")
    assert delivery.info["cause"] == "connection"


def _drain(kit: Notifier, clock: Clock, times: int = 1, step: float = 30.0) -> None:
    for _ in range(times):
        kit.worker(threads=1, poll=0.05).run(drain=True)
        clock.advance(step)


# (id, fault, state after the first attempt, final requests, final state)
MATRIX: list[tuple[str, Fault | None, str, int, str]] = [
    ("accepted", None, "sent", 1, "sent"),
    ("401", Fault("unauthorized"), "failed", 1, "failed"),
    ("balance", Fault("balance"), "failed", 1, "failed"),
    ("template", Fault("template"), "failed", 1, "failed"),
    ("429", Fault("throttled"), "pending", 2, "sent"),
    ("500", Fault("server"), "unknown", 1, "unknown"),
    ("slow", Fault("slow", delay=1.5), "unknown", 1, "unknown"),
    ("dropped", Fault("drop"), "unknown", 1, "unknown"),
]


@pytest.mark.parametrize(
    ("fault", "first", "requests", "final"), [pytest.param(*row[1:], id=row[0]) for row in MATRIX]
)
def test_worker(
    make_kit: Callable[..., Notifier],
    fake: FakeMsg91,
    tmp_path: Path,
    clock: Clock,
    fault: Fault | None,
    first: str,
    requests: int,
    final: str,
) -> None:
    kit = make_kit(write_config(tmp_path, fake.base_url), clock=clock)
    submission = kit.submit("db.down", data={"host": "db1"})
    if fault is not None:
        fake.inject(fault)
    kit.worker(threads=1, poll=0.05).run(drain=True)
    [delivery] = kit.report(submission.id).deliveries
    assert (delivery.state.value, len(fake.requests)) == (first, 1), delivery.error
    if fault is not None and fault.kind == "throttled":
        assert delivery.due is not None and delivery.due >= clock() + 7  # Retry-After honoured
    # Later drains, long after any backoff, never send again what may have arrived.
    _drain(kit, clock, times=4)
    [delivery] = kit.report(submission.id).deliveries
    assert (delivery.state.value, len(fake.requests)) == (final, requests), delivery.error
    assert delivery.attempts == requests
    if final == "sent":
        assert delivery.provider_id == fake.requests[-1].request_id


def test_a_refused_connection_is_retried_until_the_deadline_then_failed(
    make_kit: Callable[..., Notifier], tmp_path: Path, clock: Clock
) -> None:
    kit = make_kit(write_config(tmp_path, closed_url()), clock=clock)
    submission = kit.submit("db.down", data={"host": "db1"})
    states = []
    for _ in range(20):
        kit.worker(threads=1, poll=0.05).run(drain=True)
        [delivery] = kit.report(submission.id).deliveries
        states.append(delivery.state.value)
        if delivery.state.final:
            break
        clock.advance(11)  # past the longest backoff (max 10s)
    assert states[-1] == "failed" and set(states[:-1]) == {"pending"}
    assert "retry deadline" in (delivery.error or "")


def test_an_unreadable_success_is_unknown_not_sent_again(
    make_kit: Callable[..., Notifier], tmp_path: Path
) -> None:
    """A 2xx without MSG91's answer (a captive portal, a proxy's page) may still have gone
    through: unknown, never failed."""
    from notifykit_msg91.client import MaybeSent, Msg91Client

    client = Msg91Client("k3y-k3y-k3y")
    with pytest.raises(MaybeSent, match="without a request id"):
        client.read_answer(200, {}, '{"type": "success"}')
    with pytest.raises(MaybeSent, match="HTTP 200"):
        client.read_answer(200, {}, "<html>welcome</html>")
    assert (
        client.read_answer(
            200, {}, '{"message": "5762846b4f8d285d378b4567", "type": "success"}'
        ).request_id
        == "5762846b4f8d285d378b4567"
    )
