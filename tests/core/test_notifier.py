"""Notifier.notify(): routing, recipients, rendering before sending, hooks, reports."""

from __future__ import annotations

import asyncio
import re
import threading
from pathlib import Path
from typing import Any

import pytest

import notifykit
import notifykit.plan.planner
from notifykit import hookimpl
from notifykit.config.settings import Settings, setting
from notifykit.errors import (
    ConfigNotFoundError,
    DltMismatchError,
    NotificationError,
    RecipientError,
    TemplateNotFoundError,
    TemplateRenderError,
)
from notifykit.notifier import reset
from notifykit.report import Delivery, Notification

from .conftest import BASIC, RecorderPlugin, write_templates


def config_with_templates(tmp_path: Path, **templates: str) -> dict[str, Any]:
    directory = write_templates(tmp_path / "templates", **templates)
    return {**BASIC, "templates": {"directory": str(directory)}}


def test_notify_renders_and_sends_one_batch_per_channel(make_notifier, recorder, tmp_path):
    config = config_with_templates(tmp_path, db_down__sms="DB {{ host }} down ({{ severity }})")
    config["events"] = {"db.down": {"template": "db_down", "to": ["oncall"]}}
    kit = make_notifier(config)

    report = kit.notify("db.down", severity="critical", data={"host": "db1"})

    assert report.ok and not report.partial
    assert report.event == "db.down" and report.severity == "critical"
    [(message, recipients)] = recorder.channels["rec"].batches
    assert message.text == "DB db1 down (critical)"
    assert message.template == "db_down.sms"
    assert [r.phone for r in recipients] == ["+919876543210", "+919876543211"]
    assert [(d.recipient, d.address, d.state, d.provider_id) for d in report.deliveries] == [
        ("alice", "+919876543210", "sent", "id-rec-alice"),
        ("bob", "+919876543211", "sent", "id-rec-bob"),
    ]
    assert report.deliveries[0].info["prepared_by"] == "rec"
    assert report.messages == {"rec": "DB db1 down (critical)"}


def test_data_is_available_at_top_level_and_as_data(make_notifier, recorder, tmp_path):
    config = config_with_templates(tmp_path, t__sms="{{ host }}/{{ data.host }}/{{ event }}")
    kit = make_notifier(config)
    kit.notify("x.y", data={"host": "h1"}, to="alice", template="t")
    assert recorder.channels["rec"].batches[0][0].text == "h1/h1/x.y"


def test_call_arguments_override_event_which_overrides_defaults(make_notifier, recorder, tmp_path):
    config = config_with_templates(tmp_path, a__sms="A {{ severity }}", b__sms="B {{ severity }}")
    config["channels"] = {**BASIC["channels"], "rec2": {"type": "recorder"}}
    config["events"] = {"e": {"template": "a", "channels": ["rec2"], "to": ["carol"]}}
    kit = make_notifier(config)

    kit.notify("e")  # event's template, channel, recipient; defaults' severity
    assert recorder.channels["rec2"].batches[0][0].text == "A warning"
    assert [r.name for r in recorder.channels["rec2"].batches[0][1]] == ["carol"]

    kit.notify("e", template="b", channels=["rec"], to=["bob"], severity="error")
    message, recipients = recorder.channels["rec"].batches[0]
    assert message.text == "B error" and [r.name for r in recipients] == ["bob"]


def test_unknown_event_uses_defaults_and_the_shipped_default_template(make_notifier, recorder):
    kit = make_notifier(BASIC)
    report = kit.notify("cache.cold", data={"message": "miss rate 80%"}, to="alice")
    assert report.ok
    text = recorder.channels["rec"].batches[0][0].text
    assert text == "WARNING cache.cold: miss rate 80%"


def test_groups_nested_deduplicated_with_raw_numbers(make_notifier, recorder):
    kit = make_notifier(BASIC)
    report = kit.notify("e", to=["all", "alice", "+91 98765 43210", "9800000002"])
    phones = [d.address for d in report.deliveries]
    assert phones == [
        "+919876543210",
        "+919876543211",
        "+919876543212",
        "+919800000001",
        "+919800000002",
    ]
    assert [d.recipient for d in report.deliveries][-1] == "+919800000002"


def test_phone_numbers_in_the_config_are_parsed_once_at_load(make_notifier, monkeypatch):
    import notifykit.plan.planner

    config = {
        **BASIC,
        "defaults": {**BASIC["defaults"], "to": ["+919800000003"]},
        "groups": {"big": [f"+9198000{i:05d}" for i in range(150)]},
    }
    kit = make_notifier(config)
    parsed: list[str] = []
    real = notifykit.plan.planner.parse_phone

    def counting(number: str, *args: Any, **kwargs: Any) -> str | None:
        parsed.append(number)
        return real(number, *args, **kwargs)

    monkeypatch.setattr(notifykit.plan.planner, "parse_phone", counting)
    report = kit.notify("e", to=["big", "+919800000003"])
    assert len(report.deliveries) == 150 and report.ok
    report = kit.notify("e")  # defaults.to
    assert [d.address for d in report.deliveries] == ["+919800000003"]
    assert parsed == []
    # A number only the caller knows is still parsed (and validated) per call.
    report = kit.notify("e", to="09800000004")
    assert parsed == ["09800000004"]
    assert [d.address for d in report.deliveries] == ["+919800000004"]


@pytest.mark.parametrize(
    ("to", "message"),
    [
        (["alcie"], "no recipient or group named 'alcie' (did you mean 'alice'?)"),
        (["+91123"], "'+91123' is not a valid phone number"),
        ([], "no recipients for event 'e'"),
    ],
)
def test_recipient_errors_are_raised_before_sending(make_notifier, recorder, to, message):
    kit = make_notifier(BASIC)
    with pytest.raises(RecipientError, match=re.escape(message)):
        kit.notify("e", to=to)
    assert recorder.channels["rec"].batches == []


def test_unknown_channel_and_severity_are_caller_errors(make_notifier, recorder):
    kit = make_notifier(BASIC)
    with pytest.raises(NotificationError, match=r"no channel named 'recc' \(did you mean 'rec'"):
        kit.notify("e", to="alice", channels=["recc"])
    with pytest.raises(NotificationError, match="unknown severity 'fatal'"):
        kit.notify("e", to="alice", severity="fatal")
    assert recorder.channels["rec"].batches == []


def test_template_errors_are_raised_before_any_channel_sends(make_notifier, recorder, tmp_path):
    config = config_with_templates(
        tmp_path, ok__sms="fine", broken__sms="{{ missing_var }}", ok__voice="v"
    )
    config["channels"] = {**BASIC["channels"], "rec2": {"type": "recorder"}}
    kit = make_notifier(config)
    with pytest.raises(TemplateRenderError) as info:
        kit.notify("e", to="alice", channels=["rec", "rec2"], template="broken")
    assert info.value.variable == "missing_var"
    with pytest.raises(TemplateNotFoundError):
        kit.notify("e", to="alice", channels=["rec"], template="nope")
    assert recorder.channels["rec"].batches == []
    assert recorder.channels["rec2"].batches == []


def test_a_failing_prepare_stops_everything(make_notifier, recorder, tmp_path):
    """The second channel's prepare() raises: the first channel must not have sent."""

    class Strict:
        @hookimpl
        def before_delivery(self, delivery: Delivery) -> str | None:
            raise AssertionError("nothing may be delivered")

    config = config_with_templates(tmp_path, t__sms="x")
    config["channels"] = {**BASIC["channels"], "rec2": {"type": "recorder"}}
    kit = make_notifier(config, Strict())

    def refuse(message):
        raise DltMismatchError("does not match", template=message.template)

    recorder.channels["rec2"].prepare = refuse  # type: ignore[method-assign]
    with pytest.raises(DltMismatchError):
        kit.notify("e", to="alice", channels=["rec", "rec2"], template="t")
    assert recorder.channels["rec"].batches == []


def test_partial_failure_is_reported_not_raised(make_notifier, recorder):
    kit = make_notifier(BASIC)
    recorder.channels["rec"].fail = {"bob"}
    report = kit.notify("e", to="oncall")
    assert not report.ok and report.partial
    assert [d.state for d in report.deliveries] == ["sent", "failed"]
    assert report.failed[0].error == "refused by test"
    assert report.by_state() == {"sent": 1, "failed": 1}
    assert report.to_dict()["counts"] == {"sent": 1, "failed": 1}


def test_a_channel_that_raises_makes_its_deliveries_unknown_only(make_notifier, recorder):
    # An exception from send() may come after the request went out: the deliveries are
    # 'unknown' (never resent blindly), and the other channel is unaffected.
    config = {**BASIC, "channels": {**BASIC["channels"], "rec2": {"type": "recorder"}}}
    kit = make_notifier(config)

    def explode(message, recipients):
        raise ConnectionError("socket closed")

    recorder.channels["rec"].send = explode  # type: ignore[method-assign]
    report = kit.notify("e", to="oncall", channels=["rec", "rec2"])
    assert [(d.channel, d.state) for d in report.deliveries] == [
        ("rec", "unknown"),
        ("rec", "unknown"),
        ("rec2", "sent"),
        ("rec2", "sent"),
    ]
    assert report.deliveries[0].error == (
        "the channel raised ConnectionError: socket closed; it may have sent the message"
    )
    assert report.partial


def test_before_delivery_veto_and_after_delivery_observe(make_notifier, recorder):
    seen: list[tuple[str, str]] = []
    notifications: list[Notification] = []

    class QuietHours:
        @hookimpl
        def before_delivery(self, delivery: Delivery, notification: Notification) -> str | None:
            assert delivery.state == "pending"
            return "bob is off duty" if delivery.recipient == "bob" else None

    class Observer:
        @hookimpl
        def before_delivery(self, delivery: Delivery) -> None:  # fewer arguments than the spec
            return None

        @hookimpl
        def after_delivery(self, delivery: Delivery, notification: Notification) -> None:
            seen.append((delivery.recipient, delivery.state))
            notifications.append(notification)

    kit = make_notifier(BASIC, QuietHours(), Observer())
    report = kit.notify("e", to="oncall", severity="error", data={"k": "v"})
    assert [(d.recipient, d.state, d.error) for d in report.deliveries] == [
        ("alice", "sent", None),
        ("bob", "skipped", "bob is off duty"),
    ]
    assert [r.name for r in recorder.channels["rec"].batches[0][1]] == ["alice"]
    assert seen == [("alice", "sent"), ("bob", "skipped")]
    assert notifications[0].event == "e" and notifications[0].severity == "error"
    assert notifications[0].recipients == ("alice", "bob")
    assert not report.ok and report.partial


def test_hook_exceptions_never_lose_a_delivery(make_notifier, recorder, caplog):
    class Broken:
        @hookimpl
        def before_delivery(self, delivery: Delivery) -> str | None:
            if delivery.recipient == "alice":
                raise RuntimeError("metrics backend down")
            return None

        @hookimpl
        def after_delivery(self, delivery: Delivery) -> None:
            raise RuntimeError("after hook bug")

    kit = make_notifier(BASIC, Broken())
    report = kit.notify("e", to="oncall")
    assert [d.state for d in report.deliveries] == ["failed", "sent"]
    assert "before_delivery hook failed: RuntimeError: metrics backend down" in str(
        report.deliveries[0].error
    )
    assert "after_delivery hook failed" in caplog.text


def test_a_failing_after_delivery_hook_does_not_hide_deliveries_from_other_observers(
    make_notifier, recorder, caplog
):
    seen: list[tuple[str, str]] = []

    class Audit:
        @hookimpl
        def after_delivery(self, delivery: Delivery) -> None:
            seen.append((delivery.recipient, delivery.state))

    class BrokenMetrics:
        @hookimpl
        def after_delivery(self, delivery: Delivery) -> None:
            raise RuntimeError("metrics backend down")

    # pluggy calls the last registered first, so the broken one runs before the audit log.
    kit = make_notifier(BASIC, Audit(), BrokenMetrics())
    report = kit.notify("e", to="oncall")
    assert report.ok
    assert seen == [("alice", "sent"), ("bob", "sent")]
    failures = [r for r in caplog.records if "after_delivery hook failed" in r.getMessage()]
    assert len(failures) == 2
    assert "BrokenMetrics" in failures[0].getMessage()  # it names the failing plugin


def test_dry_run_routes_and_renders_but_sends_nothing(make_notifier, recorder):
    kit = make_notifier(BASIC, dry_run=True)
    report = kit.notify("e", to="oncall", data={"message": "hi"})
    assert report.ok and report.dry_run
    assert [d.state for d in report.deliveries] == ["pending", "pending"]
    assert recorder.channels["rec"].batches == []
    assert report.messages["rec"] == "WARNING e: hi"


def test_send_with_a_raw_body(make_notifier, recorder):
    kit = make_notifier(BASIC)
    report = kit.send("rec", to=["alice"], body="hello there")
    assert report.ok and report.event == "direct"
    message, _ = recorder.channels["rec"].batches[0]
    assert message.text == "hello there" and message.template is None
    with pytest.raises(NotificationError, match="not both"):
        kit.send("rec", to=["alice"], body="x", template="default")


def test_console_channel_prints_each_delivery(make_notifier, capsys):
    kit = make_notifier(BASIC)
    report = kit.notify("disk.full", to="oncall", channels="console", data={"message": "95%"})
    assert report.ok
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "[console] warning disk.full -> alice (+919876543210): WARNING disk.full: 95%"
    assert out[1] == "[console] warning disk.full -> bob (+919876543211): WARNING disk.full: 95%"
    assert len(out) == 2  # one line each: the default SMS is one line


class AcmeSettings(Settings):
    token: str = setting(secret=True)


class PagerSettings(Settings):
    prefix: str


def test_secrets_are_scrubbed_from_delivery_errors(make_notifier, recorder, monkeypatch):
    class SecretAccounts:
        @hookimpl
        def register_providers(self, register):
            from notifykit.channels import Provider

            register(
                Provider(name="acme", settings=AcmeSettings, connect=lambda settings, _: object())
            )

    monkeypatch.setenv("ACME_TOKEN", "tok-very-secret-123")
    config = {**BASIC, "accounts": {"main": {"provider": "acme", "token": "${ACME_TOKEN}"}}}
    kit = make_notifier(config, SecretAccounts())
    assert "tok-very-secret-123" not in repr(kit.config)
    recorder.channels["rec"].send = lambda m, r: (_ for _ in ()).throw(  # type: ignore[method-assign]
        RuntimeError("auth failed for token tok-very-secret-123")
    )
    report = kit.notify("e", to="alice")
    assert report.deliveries[0].error == (
        "the channel raised RuntimeError: auth failed for token ***; it may have sent the message"
    )


def test_anotify_does_not_block_the_event_loop(make_notifier, recorder):
    """While a send is held inside the channel, another coroutine runs and releases it. If
    anotify blocked the loop the gate would never open and the send would time out."""
    kit = make_notifier(BASIC)
    channel = recorder.channels["rec"]
    channel.gate = threading.Event()

    async def scenario() -> Any:
        task = asyncio.create_task(kit.anotify("e", to="alice"))
        while not channel.entered.is_set():  # the worker thread is inside send()
            await asyncio.sleep(0.001)
        assert not task.done()
        channel.gate.set()  # only possible because the loop is free
        return await asyncio.wait_for(task, timeout=10)

    report = asyncio.run(scenario())
    assert report.ok


def test_module_level_notify_uses_notifykit_config(tmp_path, monkeypatch, capsys):
    path = tmp_path / "kit.yaml"
    path.write_text(
        "defaults: {channels: [console], to: ['+919876543210']}\nchannels: {console: {type: console}}\n"
    )
    monkeypatch.setenv("NOTIFYKIT_CONFIG", str(path))
    reset()
    try:
        report = notifykit.notify("hello.world", data={"message": "hi"})
        assert report.ok
        assert notifykit.get_notifier() is notifykit.get_notifier()
        report = asyncio.run(notifykit.anotify("hello.async"))
        assert report.ok
    finally:
        reset()
    out = capsys.readouterr().out
    assert "hello.world" in out and "hello.async" in out


def test_module_level_notify_without_config_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv("NOTIFYKIT_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    reset()
    with pytest.raises(ConfigNotFoundError, match="NOTIFYKIT_CONFIG"):
        notifykit.notify("x")


def test_configure_sets_the_default_notifier(make_notifier, recorder):
    kit = make_notifier(BASIC)
    try:
        assert notifykit.configure(kit) is kit
        assert notifykit.notify("e", to="alice").ok
        assert len(recorder.channels["rec"].batches) == 1
    finally:
        reset()


def test_closed_notifier_refuses_clients(make_notifier):
    kit = make_notifier(BASIC)
    kit.close()
    kit.close()  # idempotent
    with pytest.raises(NotificationError):
        kit.client("nope")


def test_ad_hoc_module_plugin_with_its_own_channel_type(make_notifier, tmp_path):
    """A plugin given as a module object registers a channel type used end to end."""
    import types

    sent: list[tuple[str, list[str]]] = []
    module = types.ModuleType("pager_plugin")

    class Pager:
        def __init__(self, settings, context):
            self.prefix = settings["prefix"]

        def prepare(self, message):
            return message

        def send(self, message, recipients):
            from notifykit.channels import DeliveryResult

            sent.append((self.prefix + message.text, [r.label for r in recipients]))
            return [DeliveryResult.sent(r, provider_id="pg-1") for r in recipients]

    def register_channel_types(register):
        from notifykit.channels import ChannelType

        register(ChannelType("pager", factory=Pager, settings=PagerSettings))

    module.register_channel_types = hookimpl(register_channel_types)  # type: ignore[attr-defined]
    config = {**BASIC, "channels": {"page": {"type": "pager", "prefix": "PAGE: "}}}
    config["defaults"] = {"channels": ["page"]}
    kit = make_notifier(config, module)
    report = kit.notify("e", to="oncall", data={"message": "m"})
    assert report.ok and report.deliveries[0].channel_type == "pager"
    assert report.deliveries[0].provider_id == "pg-1"
    assert sent == [("PAGE: WARNING e: m", ["alice", "bob"])]


def test_recorder_plugin_fixture_is_a_class_plugin(recorder):
    assert isinstance(recorder, RecorderPlugin)


def test_vetoes_apply_in_dry_runs_too(make_notifier, recorder):
    class NoBob:
        @hookimpl
        def before_delivery(self, delivery: Delivery) -> str | None:
            return "no bob" if delivery.recipient == "bob" else None

    kit = make_notifier(BASIC, NoBob(), dry_run=True)
    report = kit.notify("e", to="oncall")
    assert [d.state for d in report.deliveries] == ["pending", "skipped"]


def test_a_raw_body_needs_a_channel_that_carries_text(make_notifier):
    from notifykit.channels import ChannelType

    class Silent:
        @hookimpl
        def register_channel_types(self, register):
            register(ChannelType("silent", factory=lambda s, c: None, template_suffix=None))  # type: ignore[arg-type,return-value]

    config = {**BASIC, "channels": {**BASIC["channels"], "quiet": {"type": "silent"}}}
    kit = make_notifier(config, Silent())
    with pytest.raises(NotificationError, match="sends no text; leave out the body"):
        kit.send("quiet", to="alice", body="hello")
