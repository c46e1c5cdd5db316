"""The keypress acknowledgement the Twilio way, end to end over real HTTP: ``notifykit serve``
(a process of its own) serves the call's TwiML (``<Say>`` + ``<Gather>``) and its Gather action,
the fake Twilio plays the call against it with a valid ``X-Twilio-Signature``, and the key
pressed acknowledges the escalation as the person called. A forged or missing signature is
refused (403) and logged without the token or any secret."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from notifykit import Notifier
from notifykit_twilio.fake import FakeTwilio
from tests.server.support import Serve, acknowledgements, free_port, wait_until
from tests.twilio_channel.conftest import AUTH_TOKEN, PHONES, escalation_sections, write_config

TEXT = "This is a critical alert: database db1 is down."


class InProcess:
    """The status server ``notifykit serve`` runs, in this process, its log captured (each test
    runs against both: the process proves the entry point and the command; this one is quick
    to debug)."""

    def __init__(self, kit: Notifier, port: int, caplog: pytest.LogCaptureFixture) -> None:
        from notifykit.server import StatusServer

        self.url = f"http://127.0.0.1:{port}"
        self._caplog = caplog
        self._server = StatusServer(kit, "127.0.0.1", port)
        self._server.__enter__()

    def log(self) -> str:
        return "\n".join(f"{r.name}: {r.getMessage()}" for r in self._caplog.records)

    def stop(self) -> None:
        self._server.__exit__(None, None, None)


@pytest.fixture(params=["notifykit serve", "in-process"])
def served(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    fake: FakeTwilio,
    make_kit: Callable[..., Notifier],
    site: Path,
    caplog: pytest.LogCaptureFixture,
) -> Iterator[tuple[Notifier, Any]]:
    port = free_port()
    config = write_config(tmp_path, fake.base_url, **escalation_sections(port))
    server: Any
    if request.param == "notifykit serve":
        server = Serve(config, port, tmp=tmp_path)
        kit = make_kit(config)
    else:
        caplog.set_level(logging.INFO, logger="notifykit")
        kit = make_kit(config)
        server = InProcess(kit, port, caplog)
    try:
        yield kit, server
    finally:
        server.stop()


def page(kit: Notifier, fake: FakeTwilio) -> tuple[str, dict[str, Any]]:
    """Fire an alert whose first step calls alice: the call's SID and its form."""
    kit.notify("db.down", severity="critical", labels={"host": "db1"})
    [request] = fake.wait_for(1)
    assert request.path.endswith("/Calls.json") and request.get("To") == PHONES[0]
    return request.sid or "", dict(request.form)


def escalation(kit: Notifier) -> Any:
    [record] = kit.ledger.routing.escalations()
    return record


def test_the_call_fetches_its_twiml_from_notifykit_serve(
    served: tuple[Notifier, Any], fake: FakeTwilio
) -> None:
    kit, serve = served
    sid, form = page(kit, fake)
    [url] = form["Url"]
    assert url.startswith(f"{serve.url}/twilio/tw/voice?t=") and "Twiml" not in form
    assert "alert" not in url  # an opaque token, not the text
    assert form["Method"] == ["POST"]
    run = fake.play_call(sid)  # nobody presses a key
    voice = run.steps[0]
    assert voice.status == 200 and voice.url == url
    assert '<Gather numDigits="1" method="POST"' in voice.body
    assert f'action="{serve.url}/twilio/tw/gather?t=' in voice.body
    first = run.spoken[0]
    assert first.startswith(TEXT)
    # the keys: 2 (escalate) only where the core can act on an escalation by key
    assert first.endswith(
        ("Press 1 to acknowledge, 3 to resolve.", "2 to send it to the next person, 3 to resolve.")
    )
    assert run.spoken[-1] == "Nobody pressed a key. Goodbye."
    assert escalation(kit).state == "active"


def test_pressing_1_acknowledges_as_the_person_called(
    served: tuple[Notifier, Any], fake: FakeTwilio
) -> None:
    kit, serve = served
    sid, _ = page(kit, fake)
    run = fake.play_call(sid, "1")
    gather = run.steps[1]
    assert gather.status == 200 and "/twilio/tw/gather?t=" in gather.url
    assert run.spoken[-1] == "Acknowledged. Nobody else will be called for it. Goodbye."
    wait_until(lambda: escalation(kit).state == "acked")
    record = escalation(kit)
    assert record.acked_by == "alice"
    [row] = [a for a in kit.audit() if a.action == "acknowledged"]
    assert row.actor == "alice"
    if hasattr(kit, "act_on_escalation"):  # the core acts on an escalation by key (i17)
        assert (record.acked_via, row.path) == ("keypress", "keypress")
        assert "pressed 1 on the call of step 0.0" in (row.detail or "")
        assert acknowledgements(serve.url) == {("keypress", "call"): 1}
    # Twilio retries a webhook it got no answer to: the same CallSid and key, done once.
    again = fake.post(gather.url, {"CallSid": sid, "Digits": "1", "AccountSid": fake.account_sid})
    assert again.status == 200 and "Acknowledged" in again.body
    assert len([a for a in kit.audit() if a.action == "acknowledged"]) == 1


def test_pressing_3_resolves(served: tuple[Notifier, Any], fake: FakeTwilio) -> None:
    kit, _ = served
    sid, _ = page(kit, fake)
    run = fake.play_call(sid, "3")
    assert run.spoken[-1] == "Resolved. Goodbye."
    wait_until(lambda: escalation(kit).state == "resolved")


def test_pressing_2_sends_it_to_the_next_person_where_the_core_can(
    served: tuple[Notifier, Any], fake: FakeTwilio
) -> None:
    kit, _ = served
    if not hasattr(kit, "act_on_escalation"):
        pytest.skip("this core has no Notifier.act_on_escalation (i17-flows): 2 is not offered")
    sid, _ = page(kit, fake)
    run = fake.play_call(sid, "2")
    assert run.spoken[-1] == "Sent on to the next person. Goodbye."
    [row] = [a for a in kit.audit() if a.action == "escalated"]
    assert (row.path, row.actor) == ("keypress", "alice")

    # The key made the next step due now: a real worker sends it. (A drain right after the key
    # may find it not due yet by a fraction of a second: drained again until it goes out.)
    def drained() -> bool:
        kit.worker(threads=1, poll=0.05).run(drain=True)
        return len(fake.requests) >= 2

    wait_until(drained, timeout=10)
    [_, second] = fake.wait_for(2)
    assert second.path.endswith("/Calls.json") and second.get("To") == PHONES[1]


def test_a_key_that_does_nothing_changes_nothing(
    served: tuple[Notifier, Any], fake: FakeTwilio
) -> None:
    kit, _ = served
    sid, _ = page(kit, fake)
    run = fake.play_call(sid, "9")
    assert run.spoken[-1] == "That key does nothing. Goodbye."
    assert escalation(kit).state == "active"


@pytest.mark.parametrize(
    ("signature", "why"),
    [("", "no X-Twilio-Signature"), ("bm90IGEgc2lnbmF0dXJl", "does not verify")],
)
def test_a_forged_or_unsigned_request_is_refused_and_logged_without_secrets(
    served: tuple[Notifier, Any], fake: FakeTwilio, signature: str, why: str
) -> None:
    kit, serve = served
    sid, form = page(kit, fake)
    [url] = form["Url"]
    token = url.split("?t=")[1]
    params = {"CallSid": sid, "Digits": "1", "AccountSid": fake.account_sid}
    gather = url.replace("/voice?", "/gather?")
    for target in (url, gather):
        refused = fake.post(target, params, signature=signature)
        assert refused.status == 403, refused.body
        assert "<Say" not in refused.body and TEXT not in refused.body
    # signed with another auth token: forged too
    other = FakeTwilio(account_sid=fake.account_sid, auth_token="another-t0ken-0123456789")
    try:
        assert other.post(gather, params).status == 403
    finally:
        other.close()
    # a valid signature over other parameters than those sent: refused
    good = fake.sign(gather, {**params, "Digits": "2"})
    assert fake.post(gather, params, signature=good).status == 403
    assert escalation(kit).state == "active"
    wait_until(lambda: serve.log().count("refused POST /twilio/tw/") >= 4)
    log = serve.log()
    assert why in log
    assert token not in log and AUTH_TOKEN not in log


def test_no_auth_token_in_the_servers_log_after_a_whole_call(
    served: tuple[Notifier, Any], fake: FakeTwilio
) -> None:
    kit, serve = served
    sid, _ = page(kit, fake)
    fake.play_call(sid, "1")
    wait_until(lambda: escalation(kit).state == "acked")
    assert AUTH_TOKEN not in serve.log()


def test_a_policy_snooze_key_snoozes_on_a_twilio_call_too(
    tmp_path: Path, fake: FakeTwilio, make_kit: Callable[..., Notifier]
) -> None:
    """The policy's ``keys:`` with a snooze key (issue 17): the call says it, and the key
    pauses the escalation for ``snooze_for``, as the person called."""
    port = free_port()
    sections = escalation_sections(port)
    sections["escalations"]["primary"]["keys"] = {"snooze": "4", "snooze_for": "1h"}
    kit = make_kit(write_config(tmp_path, fake.base_url, **sections))
    from notifykit.server import StatusServer

    with StatusServer(kit, "127.0.0.1", port):
        sid, _ = page(kit, fake)
        run = fake.play_call(sid, "4")
        assert run.spoken[0].endswith("3 to resolve, 4 to snooze for 1 hour.")
        assert run.spoken[-1] == "Snoozed. You will be paged again when the snooze ends. Goodbye."
        wait_until(lambda: escalation(kit).state == "snoozed")
        record = escalation(kit)
        assert (record.acked_by, record.acked_via) == ("alice", "keypress")
        assert record.wake_at is not None and record.acked_at is not None
        assert record.wake_at - record.acked_at == 3600
        [row] = [a for a in kit.audit() if a.action == "snoozed"]
        assert (row.path, row.actor) == ("keypress", "alice")
