"""Every answer a webhook receiver can give (and every way it can fail to), through
``notify()`` and through the worker with a real SQLite ledger: the delivery's state, how many
posts the receiver got, and that a post that may have arrived is never sent again, unless
``retry_unknown: true`` says the receiver honours the Idempotency-Key (then with the same key)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from notifykit import Notifier
from notifykit.report import DeliveryState
from notifykit_webhook.fake import FakeReceiver, Fault, closed_url
from tests.plugin_support import Clock
from tests.webhook.conftest import write_config

REDIRECT = Fault(status=301, headers={"Location": "https://elsewhere.example/new?t=x"})

# (id, fault, state after notify(), the words its error has)
ONCE = [
    ("200", None, "sent", None),
    ("202-teams", Fault(status=202, body=b"", headers={}), "sent", None),
    ("500", Fault(status=500, body="boom"), "unknown", "answered HTTP 500: boom"),
    ("503", Fault(status=503, headers={"Retry-After": "5"}), "unknown", "answered HTTP 503"),
    ("429", Fault(status=429, headers={"Retry-After": "5"}), "failed", "answered HTTP 429"),
    ("408", Fault(status=408), "failed", "answered HTTP 408"),
    ("404", Fault(status=404, body={"error": "no such hook"}), "failed", "refused it: HTTP 404"),
    ("301", REDIRECT, "failed", "redirect to https://elsewhere.example"),
    ("303", Fault(status=303, headers={"Location": "/done"}), "unknown", "303 See Other"),
    ("slow", Fault(delay=1.5), "unknown", "did not answer within 1s"),
    ("dropped", Fault(drop=True), "unknown", "failed after the post was sent"),
]


@pytest.mark.parametrize(
    ("fault", "state", "words"), [pytest.param(*row[1:], id=row[0]) for row in ONCE]
)
def test_notify(
    make_kit: Callable[..., Notifier],
    receiver: FakeReceiver,
    tmp_path: Path,
    fault: Fault | None,
    state: str,
    words: str | None,
) -> None:
    kit = make_kit(write_config(tmp_path, receiver.url))
    if fault is not None:
        receiver.inject(fault)
    report = kit.notify("db.down", data={"host": "db1"})
    [delivery] = report.deliveries
    assert delivery.state.value == state, delivery.error
    assert len(receiver.posts) == 1  # notify() posts once, whatever happens
    if words is not None:
        assert words in (delivery.error or "")
    if state == "sent":
        assert delivery.provider_id == delivery.id  # no id of the receiver's: the delivery's
    if state == "unknown":
        assert "may have been received" in (delivery.error or "")
        assert "not sent again" in (delivery.error or "")


def test_notify_when_the_connection_is_refused(
    make_kit: Callable[..., Notifier], tmp_path: Path
) -> None:
    kit = make_kit(write_config(tmp_path, closed_url()))
    [delivery] = kit.notify("db.down").deliveries
    assert delivery.state is DeliveryState.FAILED
    assert "not sent: could not connect to the webhook at http://127.0.0.1:" in (
        delivery.error or ""
    )


def _drain(kit: Notifier, clock: Clock, times: int = 1, step: float = 30.0) -> None:
    for _ in range(times):
        kit.worker(threads=1, poll=0.05).run(drain=True)
        clock.advance(step)


# (id, fault, retry_unknown, state after the first attempt, final posts, final state)
MATRIX: list[tuple[str, Fault | None, bool, str, int, str]] = [
    ("200", None, False, "sent", 1, "sent"),
    ("500", Fault(status=500), False, "unknown", 1, "unknown"),
    ("500-retry-unknown", Fault(status=500), True, "pending", 2, "sent"),
    ("slow", Fault(delay=1.5), False, "unknown", 1, "unknown"),
    ("slow-retry-unknown", Fault(delay=1.5), True, "pending", 2, "sent"),
    ("dropped", Fault(drop=True), False, "unknown", 1, "unknown"),
    ("dropped-retry-unknown", Fault(drop=True), True, "pending", 2, "sent"),
    ("429", Fault(status=429, headers={"Retry-After": "5"}), False, "pending", 2, "sent"),
    ("408", Fault(status=408), False, "pending", 2, "sent"),
    ("404", Fault(status=404), False, "failed", 1, "failed"),
    ("404-retry-unknown", Fault(status=404), True, "failed", 1, "failed"),
    ("301", REDIRECT, False, "failed", 1, "failed"),
]


@pytest.mark.parametrize(
    ("fault", "retry_unknown", "first", "posts", "final"),
    [pytest.param(*row[1:], id=row[0]) for row in MATRIX],
)
def test_worker(
    make_kit: Callable[..., Notifier],
    receiver: FakeReceiver,
    tmp_path: Path,
    clock: Clock,
    fault: Fault | None,
    retry_unknown: bool,
    first: str,
    posts: int,
    final: str,
) -> None:
    config = write_config(tmp_path, receiver.url, channel={"retry_unknown": retry_unknown})
    kit = make_kit(config, clock=clock)
    submission = kit.submit("db.down", data={"host": "db1"})
    if fault is not None:
        receiver.inject(fault)
    kit.worker(threads=1, poll=0.05).run(drain=True)
    [delivery] = kit.report(submission.id).deliveries
    assert (delivery.state.value, len(receiver.posts)) == (first, 1), delivery.error
    if first == "pending" and fault is not None and "Retry-After" in fault.headers:
        assert delivery.due is not None and delivery.due >= clock() + 5  # Retry-After honoured
    # Later drains, long after any backoff, never post again what may have arrived.
    _drain(kit, clock, times=4)
    [delivery] = kit.report(submission.id).deliveries
    assert (delivery.state.value, len(receiver.posts)) == (final, posts), delivery.error
    assert delivery.attempts == posts
    # Every post of the delivery carried its id as the Idempotency-Key, and in the body.
    keys = {p.idempotency_key for p in receiver.posts}
    assert keys == {delivery.id} == {p.json()["delivery_id"] for p in receiver.posts}
    assert all(p.verified for p in receiver.posts)


def test_a_refused_connection_is_retried_until_the_deadline_then_failed(
    make_kit: Callable[..., Notifier], tmp_path: Path, clock: Clock
) -> None:
    kit = make_kit(write_config(tmp_path, closed_url()), clock=clock)
    submission = kit.submit("db.down")
    states = []
    for _ in range(20):
        kit.worker(threads=1, poll=0.05).run(drain=True)
        [delivery] = kit.report(submission.id).deliveries
        states.append(delivery.state.value)
        if delivery.state.final:
            break
        clock.advance(11)  # past the longest backoff (max 10s)
    assert states[-1] == "failed" and set(states[:-1]) == {"pending"}
    assert "gave up" in (delivery.error or "") and "retry deadline" in (delivery.error or "")
    assert 4 <= delivery.attempts <= 8


def test_retry_unknown_gives_up_at_the_deadline_and_stays_unknown(
    make_kit: Callable[..., Notifier], receiver: FakeReceiver, tmp_path: Path, clock: Clock
) -> None:
    config = write_config(tmp_path, receiver.url, channel={"retry_unknown": True})
    kit = make_kit(config, clock=clock)
    submission = kit.submit("db.down")
    receiver.inject(Fault(status=502, times=100))
    _drain(kit, clock, times=20, step=11)
    [delivery] = kit.report(submission.id).deliveries
    assert delivery.state is DeliveryState.UNKNOWN  # never "failed": it may have arrived
    assert "gave up" in (delivery.error or "")
    assert 4 <= len(receiver.posts) <= 8
    assert {p.idempotency_key for p in receiver.posts} == {delivery.id}


@pytest.mark.parametrize(
    ("fault", "provider_id"),
    [
        (Fault(status=200, body={"id": "rcpt-42"}), "rcpt-42"),
        (Fault(status=201, body={"id": 42}), "42"),
        (Fault(status=200, body=b"ok", headers={"X-Request-Id": "req-7"}), "req-7"),
        (Fault(status=200, body={"id": True}), None),  # not an id: the delivery's
        (Fault(status=200, body=b"{" * 100_000), None),  # nested too deep to read
    ],
)
def test_the_receiver_may_give_its_own_id(
    make_kit: Callable[..., Notifier],
    receiver: FakeReceiver,
    tmp_path: Path,
    fault: Fault,
    provider_id: str | None,
) -> None:
    kit = make_kit(write_config(tmp_path, receiver.url))
    receiver.inject(fault)
    [delivery] = kit.notify("db.down").deliveries
    assert delivery.state is DeliveryState.SENT
    assert delivery.provider_id == (provider_id or delivery.id)
    assert delivery.provider_status == f"HTTP {fault.status}"


def test_a_huge_answer_is_read_no_further_than_64_kib(
    make_kit: Callable[..., Notifier], receiver: FakeReceiver, tmp_path: Path
) -> None:
    kit = make_kit(write_config(tmp_path, receiver.url))
    receiver.inject(Fault(status=500, body=b"x" * (8 * 1024 * 1024)))
    receiver.inject(Fault(status=200, body={"id": "after"}))
    [first] = kit.notify("db.down").deliveries
    [second] = kit.notify("db.down").deliveries  # the pool's next connection works
    assert first.state is DeliveryState.UNKNOWN and len(first.error or "") < 1000
    assert (second.state, second.provider_id) == (DeliveryState.SENT, "after")


def test_one_post_per_recipient_with_a_webhook_address(
    make_kit: Callable[..., Notifier], receiver: FakeReceiver, tmp_path: Path
) -> None:
    kit = make_kit(write_config(tmp_path, receiver.url))
    report = kit.notify("db.down", to=["ops", "alice", "bob"], channels="hook")
    states = {d.recipient: (d.state.value, d.error) for d in report.deliveries}
    assert states["ops"][0] == states["alice"][0] == "sent"
    assert states["bob"] == ("skipped", "no webhook address for bob")
    addresses = sorted(p.json()["recipient"]["address"] for p in receiver.posts)
    assert addresses == ["#ops", "alice"]


def test_a_send_stopped_between_posts_starts_no_new_post(
    make_kit: Callable[..., Notifier], receiver: FakeReceiver, tmp_path: Path
) -> None:
    # Ctrl-C or SIGTERM while the first post's answer is awaited: it finishes and is recorded,
    # the second is never started and goes back to pending, for a worker.
    import threading

    from notifykit.channels.stop import SendStop, stopping_on

    kit = make_kit(write_config(tmp_path, receiver.url))
    stop = SendStop()
    receiver.inject(Fault(delay=0.5))  # the first answer is held back (the timeout is 1 s)

    def stop_at_the_first_post() -> None:
        receiver.wait_for(1)
        stop.stop("SIGTERM")

    stopper = threading.Thread(target=stop_at_the_first_post)
    stopper.start()
    with stopping_on(stop):
        report = kit.notify("db.down", to=["ops", "alice"], channels="hook")
    stopper.join(5)
    states = {d.recipient: d.state for d in report.deliveries}
    assert states == {"ops": DeliveryState.SENT, "alice": DeliveryState.PENDING}
    assert len(receiver.posts) == 1


def test_a_socks_proxy_without_pysocks_sends_nothing(
    make_kit: Callable[..., Notifier],
    receiver: FakeReceiver,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import importlib.util

    if importlib.util.find_spec("socks") is not None:
        pytest.skip("PySocks is installed here")
    monkeypatch.setenv("ALL_PROXY", "socks5://127.0.0.1:9")
    monkeypatch.setenv("NO_PROXY", "")
    kit = make_kit(write_config(tmp_path, receiver.url))
    [delivery] = kit.notify("db.down").deliveries
    assert delivery.state is DeliveryState.FAILED
    assert "is a SOCKS proxy" in (delivery.error or "") and "PySocks" in (delivery.error or "")
    assert receiver.posts == []


def test_the_environments_proxy_is_used(
    make_kit: Callable[..., Notifier],
    receiver: FakeReceiver,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A proxy that refuses connections: the post certainly did not go out (retried later).
    monkeypatch.setenv("HTTP_PROXY", closed_url(""))
    monkeypatch.setenv("NO_PROXY", "")
    monkeypatch.delenv("no_proxy", raising=False)
    kit = make_kit(write_config(tmp_path, receiver.url))
    [delivery] = kit.notify("db.down").deliveries
    assert delivery.state is DeliveryState.FAILED and "not sent" in (delivery.error or "")
    assert receiver.posts == []
