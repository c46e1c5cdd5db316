"""What the core gives a channel that sends without a provider account (a webhook): each
recipient's ``delivery_id`` (an idempotency key, the same on every attempt), the routing
variables in ``prepare``, ``unknown`` results that may be sent again because the receiver
honours the key, a sandbox of the channel type's own, ``close()`` with the Notifier, and
validators that warn instead of refusing. Through ``notify()`` and a worker, with a real SQLite
ledger."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from notifykit import Notifier, hookimpl
from notifykit.channels import (
    ChannelContext,
    ChannelType,
    DeliveryResult,
    Message,
    Recipient,
)
from notifykit.config.settings import ConfigWarning, Settings, setting
from notifykit.plugins import get_plugin_manager
from notifykit.report import DeliveryState


def _url_problems(url: str) -> list[str]:
    if url.startswith("http://"):
        return [ConfigWarning("http:// sends it unencrypted")]
    if not url.startswith("https://"):
        return ["not a URL"]
    return []


class ProbeSettings(Settings):
    """The ``probe`` channel type's settings."""

    url: str = setting(check=_url_problems, doc="where it posts")
    secret: str = setting(secret=True, doc="what it signs with")


class Probe:
    """Records what it is given; answers with the next of ``answers`` (``sent`` when none)."""

    def __init__(self, log: Probes, settings: ProbeSettings, context: ChannelContext) -> None:
        self.log = log
        self.settings = settings
        self.closed = 0
        log.channels.append(self)

    def prepare(self, message: Message) -> Message:
        self.log.prepared.append(message)
        return message.with_options(alert_key=message.routing.get("alert_key"))

    def send(self, message: Message, recipients: Sequence[Recipient]) -> Sequence[DeliveryResult]:
        results = []
        for recipient in recipients:
            self.log.sends.append((message, recipient))
            answer = self.log.answers.pop(0) if self.log.answers else "sent"
            if answer == "unknown":
                results.append(DeliveryResult.unknown(recipient, "timed out"))
            elif answer == "unknown-idempotent":
                results.append(DeliveryResult.unknown(recipient, "timed out", idempotent=True))
            else:
                results.append(DeliveryResult.sent(recipient, provider_id="p-1"))
        return results

    def close(self) -> None:
        self.closed += 1


class Probes:
    """A plugin (an instance) registering the ``probe`` channel type, with a sandbox."""

    def __init__(self) -> None:
        self.channels: list[Probe] = []
        self.prepared: list[Message] = []
        self.sends: list[tuple[Message, Recipient]] = []
        self.answers: list[str] = []
        self.sandboxes: list[str] = []

    @contextlib.contextmanager
    def sandbox(self) -> Iterator[Mapping[str, Any]]:
        self.sandboxes.append("started")
        try:
            yield {"url": "https://sandbox.invalid/hook", "secret": "sandbox-s3cr3t"}
        finally:
            self.sandboxes.append("stopped")

    @hookimpl
    def register_channel_types(self, register: Callable[[ChannelType], None]) -> None:
        register(
            ChannelType(
                name="probe",
                factory=lambda settings, context: Probe(self, settings, context),
                settings=ProbeSettings,
                address="probe",
                sandbox=self.sandbox,
                sandbox_keys=frozenset({"url", "secret"}),
            )
        )


@pytest.fixture
def probes() -> Probes:
    return Probes()


def _config(tmp_path: Path, **channel: Any) -> dict[str, Any]:
    return {
        "store": str(tmp_path / "ledger.db"),
        "channels": {
            "hook": {
                "type": "probe",
                "url": "https://example.test/hook",
                "secret": "${PROBE_SECRET}",
                **channel,
            }
        },
        "recipients": {"ops": {"addresses": {"probe": "#ops"}}},
        "defaults": {"channels": ["hook"], "to": ["ops"], "template": "default"},
        "retry": {"initial": "1s", "max": "10s", "deadline": "60s"},
    }


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def _kit(probes: Probes, config: Any, **kwargs: Any) -> Notifier:
    pm = get_plugin_manager(load_entrypoints=False, plugins=[probes])
    environ = {"PROBE_SECRET": "probe-s3cr3t-value"}
    return Notifier.from_config(config, plugin_manager=pm, environ=environ, **kwargs)


def test_each_recipient_carries_its_delivery_id(probes: Probes, tmp_path: Path) -> None:
    with _kit(probes, _config(tmp_path)) as kit:
        report = kit.notify("db.down", to="ops", channels="hook")
    [(_message, recipient)] = probes.sends
    [delivery] = report.deliveries
    assert recipient.delivery_id == delivery.id
    # no part of equality: a recipient is still the recipient it was
    assert recipient == Recipient(name="ops", phone=None, addresses={"probe": "#ops"})


def test_prepare_sees_the_routing_variables(probes: Probes, tmp_path: Path) -> None:
    config = {
        **_config(tmp_path),
        "receivers": {"ops-hook": {"channels": ["hook"], "to": ["ops"]}},
        "route": {"receiver": "ops-hook", "group_by": ["host"]},
    }
    with _kit(probes, config) as kit:
        kit.notify("db.down", labels={"host": "db1"})
        kit.notify("db.down", to="ops", channels="hook")  # not routed: no routing variables
    routed, direct = probes.prepared
    assert routed.routing["labels"] == {"host": "db1"}
    assert routed.routing["alert_key"]
    assert routed.routing["status"] == "firing"
    assert direct.routing == {}
    # what send() needs of them, prepare() put in the options, which the ledger keeps
    assert probes.sends[0][0].options["alert_key"] == routed.routing["alert_key"]


@pytest.mark.parametrize(
    ("answers", "sends", "state"),
    [
        (["unknown"], 1, DeliveryState.UNKNOWN),
        (["unknown-idempotent"], 2, DeliveryState.SENT),
        (["unknown-idempotent"] * 20, None, DeliveryState.UNKNOWN),
    ],
    ids=[
        "unknown-never-resent",
        "idempotent-resent-once",
        "idempotent-stays-unknown-past-deadline",
    ],
)
def test_an_idempotent_unknown_is_sent_again_with_the_same_delivery_id(
    probes: Probes, tmp_path: Path, answers: list[str], sends: int | None, state: DeliveryState
) -> None:
    clock = Clock()
    probes.answers = list(answers)
    with _kit(probes, _config(tmp_path), clock=clock) as kit:
        submission = kit.submit("db.down", to="ops", channels="hook")
        for _ in range(12):
            kit.worker(threads=1, poll=0.05).run(drain=True)
            clock.now += 11  # past the longest backoff
        [delivery] = kit.report(submission.id).deliveries
    assert delivery.state is state
    if sends is not None:
        assert len(probes.sends) == sends
    else:  # retried within the deadline (60 s) only, then left unknown
        assert 3 <= len(probes.sends) <= 8
        assert "gave up" in (delivery.error or "")
    assert {r.delivery_id for _m, r in probes.sends} == {delivery.id}


def test_notify_sends_an_idempotent_unknown_once(probes: Probes, tmp_path: Path) -> None:
    # notify() sends once, like any transient failure: the worker's policy does the rest
    probes.answers = ["unknown-idempotent"]
    with _kit(probes, _config(tmp_path)) as kit:
        report = kit.notify("db.down", to="ops", channels="hook")
    assert [d.state for d in report.deliveries] == [DeliveryState.UNKNOWN]
    assert len(probes.sends) == 1


def test_a_channel_sandbox_replaces_its_keys(probes: Probes, tmp_path: Path) -> None:
    config = _config(tmp_path, url="${UNSET_PROBE_URL}", secret="${UNSET_PROBE_SECRET}")
    with _kit(probes, config, sandbox=True) as kit:
        [channel] = probes.channels
        assert (channel.settings.url, channel.settings.secret) == (
            "https://sandbox.invalid/hook",
            "sandbox-s3cr3t",
        )
        assert probes.sandboxes == ["started"]
        kit.notify("db.down", to="ops", channels="hook")
    assert probes.sandboxes == ["started", "stopped"]
    assert channel.closed == 1  # and the channel was closed with the Notifier


def test_without_sandbox_its_keys_are_required(probes: Probes, tmp_path: Path) -> None:
    from notifykit.errors import ConfigError

    config = _config(tmp_path, url="${UNSET_PROBE_URL}")
    with pytest.raises(ConfigError, match="UNSET_PROBE_URL"):
        _kit(probes, config)
    assert probes.sandboxes == []


def test_a_validator_may_warn_instead_of_refusing(probes: Probes, tmp_path: Path) -> None:
    with _kit(probes, _config(tmp_path, url="http://pager.internal/hook")) as kit:
        warnings = [w.message for w in kit.config.warnings]
        [channel] = probes.channels
    assert warnings == ["http:// sends it unencrypted"]
    assert channel.settings.url == "http://pager.internal/hook"  # kept


def test_a_validator_problem_still_refuses(probes: Probes, tmp_path: Path) -> None:
    from notifykit.errors import ConfigError

    with pytest.raises(ConfigError, match="not a URL"):
        _kit(probes, _config(tmp_path, url="ftp://x"))


class HeaderSettings(Settings):
    """A channel type with a secret mapping."""

    headers: Mapping[str, str] = setting(default_factory=dict, secret=True)


def test_a_secret_mapping_has_secret_values_and_plain_names(tmp_path: Path) -> None:
    # Its values are scrubbed from everything; its names ("Authorization") are not secrets.
    class Plugin:
        @hookimpl
        def register_channel_types(self, register: Callable[[ChannelType], None]) -> None:
            register(
                ChannelType(
                    name="headed",
                    factory=lambda settings, context: Probe(Probes(), settings, context),
                    settings=HeaderSettings,
                )
            )

    pm = get_plugin_manager(load_entrypoints=False, plugins=[Plugin()])
    config = {
        "channels": {"h": {"type": "headed", "headers": {"Authorization": "${PROBE_AUTH}"}}},
        "recipients": {"ops": {"phone": "+919876543210"}},
    }
    environ = {"PROBE_AUTH": "Bearer s3cr3t-h34d3r"}
    with Notifier.from_config(config, plugin_manager=pm, environ=environ) as kit:
        assert "Bearer s3cr3t-h34d3r" in kit.config.secrets
        assert "Authorization" not in kit.config.secrets


def test_a_channel_that_fails_to_close_keeps_nothing_else_open(
    probes: Probes, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    kit = _kit(probes, _config(tmp_path))
    kit.notify("db.down", to="ops", channels="hook")  # the ledger is open now
    [channel] = probes.channels

    def broken() -> None:
        raise OSError("probe-s3cr3t-value went away")

    channel.close = broken  # type: ignore[method-assign]
    kit.close()
    assert not kit.runtime.ledger.opened  # closed all the same
    assert "channel 'hook' failed to close: OSError: *** went away" in caplog.text
