"""notify() through the Exotel channels, over real HTTP to the simulator, checking what Exotel got."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from notifykit.errors import DltMismatchError, MessageTooLongError, TemplateRenderError
from notifykit_exotel.simulator import ExotelSimulator, Fault

from .conftest import BRIDGE, EXOPHONE, SID, TOKEN


def sms_requests(sim: ExotelSimulator) -> list[Any]:
    return [r for r in sim.requests if r.method == "POST" and r.path.endswith("/Sms/send.json")]


def call_requests(sim: ExotelSimulator) -> list[Any]:
    return [
        r for r in sim.requests if r.method == "POST" and r.path.endswith("/Calls/connect.json")
    ]


def to_numbers(request: Any) -> list[str]:
    return [v for k, values in request.form.items() if k.startswith("To") for v in values]


def test_sms_to_one_recipient_sends_exactly_the_configured_fields(sim, config, make_kit):
    kit = make_kit(config)
    report = kit.notify("db.down", severity="warning", data={"host": "db1"}, to="alice")

    assert report.ok
    [request] = sms_requests(sim)
    assert request.path == f"/v1/Accounts/{SID}/Sms/send.json"
    assert request.auth_user == SID
    assert request.fields == {
        "From": "NKINFO",
        "To": "+919876543210",
        "Body": "ALERT WARNING: db1 is down. -ACME",
        "Priority": "normal",
        "DltEntityId": "1201177860312735154",
        "DltTemplateId": "1207161234567890123",
        "SmsType": "transactional",
    }
    [delivery] = report.deliveries
    assert delivery.state == "sent" and delivery.channel_type == "exotel-sms"
    assert delivery.provider_id in sim.messages
    assert delivery.provider_status == "queued"
    assert (delivery.encoding, delivery.segments, delivery.info["chars"]) == ("GSM-7", 1, 33)
    assert delivery.info["dlt"] == "match"


@pytest.mark.parametrize(
    ("severity", "sender", "priority"),
    [
        ("info", "NKINFO", "normal"),
        ("warning", "NKINFO", "normal"),
        ("error", "NKALRT", "high"),
        ("critical", "NKALRT", "high"),  # no critical entry: the highest one below wins
    ],
)
def test_sender_and_priority_are_chosen_by_severity(
    sim, config, make_kit, severity, sender, priority
):
    kit = make_kit(config)
    assert kit.notify("x", severity=severity, data={"host": "h"}, to="bob").ok
    [request] = sms_requests(sim)
    assert (request.field("From"), request.field("Priority")) == (sender, priority)
    assert request.field("Body") == f"ALERT {severity.upper()}: h is down. -ACME"


def test_many_recipients_use_the_bulk_endpoint_100_per_request(sim, config, make_kit):
    numbers = [f"+9198000{i:05d}" for i in range(150)]
    kit = make_kit(config)
    report = kit.notify("db.down", data={"host": "db1"}, to=numbers)

    assert report.ok and len(report.deliveries) == 150
    requests = sms_requests(sim)
    assert [len(to_numbers(r)) for r in requests] == [100, 50]
    assert to_numbers(requests[0])[:2] == numbers[:2] and to_numbers(requests[1])[-1] == numbers[-1]
    assert all(r.field("Body") == "ALERT WARNING: db1 is down. -ACME" for r in requests)
    sids = [d.provider_id for d in report.deliveries]
    assert len(set(sids)) == 150 and set(sids) <= set(sim.messages)
    assert [d.address for d in report.deliveries] == numbers


def test_bulk_can_be_turned_off(sim, config, make_kit):
    config["channels"]["sms"]["bulk"] = False
    kit = make_kit(config)
    assert kit.notify("x", data={"host": "h"}, to="oncall").ok
    # One request each, in flight at once (test_sms_in_parallel.py): in no particular order.
    assert sorted(to_numbers(r) for r in sms_requests(sim)) == [
        ["+919876543210"],
        ["+919876543211"],
    ]


def test_call_channel_rings_the_recipient_then_connects_the_bridge(sim, config, make_kit):
    kit = make_kit(config)
    report = kit.notify("db.down", channels="call", to="oncall", severity="error")

    assert report.ok
    requests = call_requests(sim)
    assert [r.fields for r in requests] == [
        {"From": "+919876543210", "To": BRIDGE, "CallerId": EXOPHONE, "TimeLimit": "600"},
        {"From": "+919876543211", "To": BRIDGE, "CallerId": EXOPHONE, "TimeLimit": "600"},
    ]
    assert [d.provider_id for d in report.deliveries] == [
        sid for sid in sim.calls if sid in {d.provider_id for d in report.deliveries}
    ]
    assert report.messages == {"call": None}

    kit.notify("db.down", channels="call", to="alice", severity="critical")
    assert call_requests(sim)[-1].field("To") == "+919800000009"


def test_flow_channel_passes_the_rendered_voice_text(sim, config, make_kit):
    kit = make_kit(config)
    report = kit.notify(
        "db.down", channels="ivr", to="alice", data={"host": "db1"}, severity="critical"
    )

    assert report.ok
    [request] = call_requests(sim)
    assert request.fields == {
        "From": "+919876543210",
        "CallerId": EXOPHONE,
        "Url": f"http://my.exotel.com/{SID}/exoml/start_voice/123456",
        "TimeLimit": "300",
        "CustomField": "Attention. db1 is down. Severity critical.",
    }
    assert report.deliveries[0].provider_id in sim.calls


def test_every_channel_in_one_notification(sim, config, make_kit):
    kit = make_kit(config)
    report = kit.notify("db.down", channels=["sms", "call", "ivr"], to="oncall", data={"host": "a"})
    assert report.ok and len(report.deliveries) == 6
    assert len(sms_requests(sim)) == 1  # one bulk request for both recipients
    assert len(call_requests(sim)) == 4


def test_a_failing_channel_gives_a_partial_report(sim, config, make_kit):
    sim.inject(
        Fault(
            status=400, code=40000, message="CallerId is not a valid ExoPhone", path="Calls/connect"
        ),
        times=2,
    )
    kit = make_kit(config)
    report = kit.notify("db.down", channels=["sms", "ivr"], to="oncall", data={"host": "a"})

    assert not report.ok and report.partial
    assert [(d.channel, d.state) for d in report.deliveries] == [
        ("sms", "sent"),
        ("sms", "sent"),
        ("ivr", "failed"),
        ("ivr", "failed"),
    ]
    error = report.deliveries[2].error or ""
    assert "HTTP 400" in error and "CallerId is not a valid ExoPhone" in error
    assert report.to_dict()["counts"] == {"sent": 2, "failed": 2}


def test_a_server_error_after_sending_is_unknown_not_failed(sim, config, make_kit):
    sim.inject(Fault(status=500, message="upstream timeout", path="Sms/send"))
    kit = make_kit(config)
    report = kit.notify("x", data={"host": "h"}, to="alice")
    [delivery] = report.deliveries
    assert delivery.state == "unknown"
    assert "HTTP 500" in (delivery.error or "")
    assert not report.ok and not report.partial


def test_authentication_failure_never_shows_the_token(sim, config, make_kit):
    sim.inject(Fault(status=401, message="Authentication failed"), times=5)
    kit = make_kit(config)
    report = kit.notify("x", data={"host": "h"}, to="oncall", channels=["sms", "call"])
    assert [d.state for d in report.deliveries] == ["failed"] * 4
    dumped = repr(report) + repr(kit) + repr(kit.config) + str(report.to_dict())
    assert TOKEN not in dumped
    assert "HTTP 401" in (report.deliveries[0].error or "")


def test_template_errors_reach_no_request(sim, config, make_kit):
    kit = make_kit(config)
    with pytest.raises(TemplateRenderError, match="host"):
        kit.notify("x", to="alice", channels=["call", "sms"])  # no host in data
    with pytest.raises(MessageTooLongError):
        kit.notify("x", to="alice", template="long", data={"n": 2001})
    assert sim.requests == []


def test_dlt_mismatch_is_raised_before_any_request(sim, config, make_kit):
    kit = make_kit(config)
    with pytest.raises(DltMismatchError) as info:
        kit.notify(
            "otp", to="alice", template="otp", data={"otp": "4821"}, channels=["call", "sms"]
        )
    assert info.value.template == "otp.sms"
    assert "is your code" in str(info.value)
    assert sim.requests == []


def test_unicode_body_is_sent_as_unicode_with_its_segments(sim, config, make_kit):
    kit = make_kit(config)
    report = kit.notify("x", template="hindi", data={"host": "db1"}, to="alice")
    [request] = sms_requests(sim)
    assert request.field("Body") == "चेतावनी: सर्वर db1 बंद है। -ACME"
    assert request.field("EncodingType") == "unicode"
    assert request.field("DltTemplateId") is None  # no settings for this template
    [delivery] = report.deliveries
    assert (delivery.encoding, delivery.segments) == ("UCS-2", 1)

    long_body = {"host": "सर्वर-" * 12}
    report = kit.notify("x", template="hindi", data=long_body, to="alice")
    assert report.deliveries[0].segments == 2
    assert report.deliveries[0].info["length"] > 70


def test_dry_run_renders_and_checks_but_sends_nothing(sim, config, make_kit):
    kit = make_kit(config, dry_run=True)
    report = kit.notify("x", channels=["sms", "ivr"], to="oncall", data={"host": "h"})
    assert report.ok and {d.state for d in report.deliveries} == {"pending"}
    assert report.deliveries[0].encoding == "GSM-7"
    with pytest.raises(DltMismatchError):
        kit.notify("otp", template="otp", data={"otp": "1"}, to="alice")
    assert sim.requests == []


def test_one_pooled_client_per_account_shared_by_channels(sim, config, make_kit):
    kit = make_kit(config)
    client = kit.client("main")
    assert kit.channels["sms"].client is client  # type: ignore[attr-defined]
    assert kit.channels["ivr"].client is client  # type: ignore[attr-defined]
    kit.notify("x", data={"host": "h"}, to="alice")
    kit.notify("x", data={"host": "h"}, to="alice")
    assert kit.client("main") is client


def test_status_lookup_through_the_provider(sim, config, make_kit):
    from notifykit.errors import ProviderError

    kit = make_kit(config)
    sms = kit.notify("x", data={"host": "h"}, to="alice").deliveries[0].provider_id
    call = kit.notify("x", channels="call", to="alice").deliveries[0].provider_id
    lookup = kit.registry.providers["exotel"].lookup
    assert lookup is not None
    found = lookup(kit.client("main"), sms, None)
    assert found["kind"] == "sms" and found["sid"] == sms and found["to"] == "+919876543210"
    found = lookup(kit.client("main"), call, None)
    assert found["kind"] == "call" and found["sid"] == call
    with pytest.raises(ProviderError, match="no SMS or call with Sid 'nope'") as info:
        lookup(kit.client("main"), "nope", None)
    assert info.value.not_found


def test_anotify_keeps_the_event_loop_running_during_a_slow_send(sim, config, make_kit):
    kit = make_kit(config)
    sim.inject(Fault(delay=0.5, path="Sms/send"))

    async def scenario() -> Any:
        task = asyncio.create_task(kit.anotify("x", data={"host": "h"}, to="alice"))
        ticks = 0
        while not sms_requests(sim):  # the request is in the simulator, held by the delay
            await asyncio.sleep(0.005)
            ticks += 1
            assert ticks < 2000, "the request never reached the simulator"
        assert not task.done()  # this coroutine runs while the send is in flight
        return await asyncio.wait_for(task, timeout=10)

    report = asyncio.run(scenario())
    assert report.ok and report.deliveries[0].provider_id in sim.messages


def test_flow_channel_needs_exactly_one_of_app_id_and_url(sim, config, make_kit):
    from notifykit.errors import ConfigError

    config["channels"]["ivr"]["url"] = "https://example.com/flow"
    with pytest.raises(ConfigError, match="exactly one of app_id"):
        make_kit(config)


def test_settings_refused_by_the_plugin_are_config_problems_with_their_lines(
    sim, config, make_kit, tmp_path
):
    import yaml

    from notifykit.errors import ConfigError

    config["channels"]["ivr"]["url"] = "https://example.com/flow"  # and app_id: one too many
    config["accounts"]["other"] = {
        "provider": "exotel",
        "sid": SID,
        "token": "${NK_TEST_EXOTEL_TOKEN}",
        "base_url": "http://example.com",  # plain http only goes to a loopback simulator
    }
    config["channels"]["sms2"] = {**config["channels"]["sms"], "account": "other"}
    config["channels"]["call2"] = {**config["channels"]["call"], "account": "other"}
    path = tmp_path / "notifykit.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    lines = path.read_text().splitlines()

    def line_of(key: str, after: str) -> int:
        start = lines.index(after)
        return next(i for i, text in enumerate(lines[start:], start + 1) if text == key)

    with pytest.raises(ConfigError) as raised:
        make_kit(path)
    assert [(p.line, p.path) for p in raised.value.problems] == [
        (line_of("  ivr:", "channels:"), "channels.ivr"),
        (line_of("  other:", "accounts:"), "accounts.other"),  # once, for both its channels
    ]
    assert all(p.file == str(path) for p in raised.value.problems)
    assert "exactly one of app_id" in raised.value.problems[0].message
    assert "must be an https:// URL" in raised.value.problems[1].message
    assert sim.requests == []


def test_sandbox_needs_no_secrets_and_stops_its_simulator(monkeypatch):
    from pathlib import Path

    from notifykit import Notifier

    monkeypatch.delenv("EXOTEL_SID", raising=False)
    monkeypatch.delenv("EXOTEL_TOKEN", raising=False)
    example = Path(__file__).resolve().parents[2] / "config.example.yaml"
    kit = Notifier.from_config(example, sandbox=True)
    try:
        client = kit.client("exotel-main")
        assert client.base_url.startswith("http://127.0.0.1:")
        report = kit.notify("db.down", severity="critical", data={"host": "db1"}, to="oncall")
        assert report.ok and all(d.provider_id for d in report.deliveries)
        assert {d.channel for d in report.deliveries} == {"sms", "ivr"}
    finally:
        kit.close()
    import requests

    with pytest.raises(requests.ConnectionError):
        requests.get(client.base_url, timeout=2)


def test_a_script_that_never_closes_its_sandbox_notifier_still_exits(tmp_path):
    """At interpreter exit the sandbox's simulator is stopped by garbage collection, after its
    (daemon) serving thread stopped running: stopping must not wait for that thread forever."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    example = Path(__file__).resolve().parents[2] / "config.example.yaml"
    script = (
        "import notifykit\n"
        f"kit = notifykit.Notifier.from_config({str(example)!r}, sandbox=True)\n"
        "print(kit.notify('db.down', data={'host': 'db1'}, to='oncall').ok)\n"
    )  # no kit.close(): a first script, or one that raised
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EXOTEL_", "NOTIFYKIT_"))}
    try:
        done = subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True, text=True, env=env, cwd=tmp_path, timeout=30, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired as err:
        pytest.fail(f"the script sent and then hung at exit: {err.stdout!r}")
    assert (done.returncode, done.stdout) == (0, "True\n"), done.stderr


def test_bulk_send_failing_after_the_first_request_reports_exactly_what_went_out(
    sim, config, make_kit
):
    """The first chunk of 100 is accepted, the second is refused: 100 sent, 50 failed."""
    sim.inject(Fault(delay=0.001, path="Sms/send"))  # consumed by request 1, which succeeds
    sim.inject(Fault(status=400, code=40000, message="Service unavailable", path="Sms/send"))
    numbers = [f"+9198100{i:05d}" for i in range(150)]
    kit = make_kit(config)
    report = kit.notify("db.down", data={"host": "db1"}, to=numbers)

    assert report.partial
    statuses = [d.state for d in report.deliveries]
    assert statuses == ["sent"] * 100 + ["failed"] * 50
    assert all(d.provider_id in sim.messages for d in report.deliveries[:100])
    assert "Service unavailable" in (report.deliveries[120].error or "")
    assert [len(to_numbers(r)) for r in sms_requests(sim)] == [100, 50]


def test_bulk_results_are_matched_by_number_not_position():
    """Unit check of the mapping: refusals by number, messages by the echoed number."""
    from notifykit.channels import Recipient
    from notifykit_exotel.channels import SmsChannel
    from notifykit_exotel.errors import ValidationError
    from notifykit_exotel.models import BulkItemError, BulkSmsResult, SmsMessage

    people = [
        Recipient(name=n, phone=p)
        for n, p in [("a", "+919800000001"), ("b", "+919800000002"), ("c", "+919800000003")]
    ]
    result = BulkSmsResult(
        messages=(SmsMessage(sid="S3", to="09800000003"), SmsMessage(sid="S1", to="+919800000001")),
        errors=(
            BulkItemError(1, "+919800000002", ValidationError("Invalid Recipient", status=400)),
        ),
    )
    outcome = SmsChannel._bulk_results(people, result)
    assert [(r.recipient.name, r.state, r.provider_id) for r in outcome] == [
        ("a", "sent", "S1"),
        ("b", "failed", None),
        ("c", "sent", "S3"),
    ]
    missing = SmsChannel._bulk_results(people, BulkSmsResult(messages=(SmsMessage(sid="S9"),)))
    assert [r.state for r in missing] == ["sent", "unknown", "unknown"]
